"""Image feature extractors as scikit-learn transformers."""

from ._base import BaseImageTransformer
from .raw import RawPixels

__all__ = ["BaseImageTransformer", "RawPixels"]
