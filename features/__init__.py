"""Image feature extractors as scikit-learn transformers."""

from ._base import BaseImageTransformer
from ._validation import resize_images
from .bovw import BagOfVisualWords
from .color import ColorHistogram
from .hog import HOG, hog_cell_histograms, hog_features, hog_image
from .raw import RawPixels

__all__ = [
    "HOG",
    "BagOfVisualWords",
    "BaseImageTransformer",
    "ColorHistogram",
    "RawPixels",
    "hog_cell_histograms",
    "hog_features",
    "hog_image",
    "resize_images",
]
