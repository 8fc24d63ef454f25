"""Image feature extractors as scikit-learn transformers."""

from ._base import BaseImageTransformer
from .color import ColorHistogram
from .raw import RawPixels

__all__ = ["BaseImageTransformer", "ColorHistogram", "RawPixels"]
