"""Raw pixels as features: the baseline every other extractor is compared with."""

import warnings

import numpy as np

from ._base import BaseImageTransformer
from ._validation import Hidden, StrOptions


class RawPixels(BaseImageTransformer):
    """Flatten images to float32 pixel values in [0, 1].

    Steps:

    1. optionally resize every image to ``size`` (OpenCV, area interpolation when shrinking);
    2. optionally convert colour to grey (OpenCV's ITU-R BT.601 weights);
    3. scale to [0, 1] (uint8 / 255, uint16 / 65535; floats are kept) and flatten each image in
       (row, col, channel) order.

    Parameters
    ----------
    size : tuple of (int, int) or None, default=None
        Resize every image to (rows, cols) first. Needed for lists of images of mixed shapes.
    grey : bool, default=False
        Convert colour images to grey.
    grayscale : bool
        Deprecated spelling of ``grey`` (a FutureWarning at fit); removed in the next release.
    chunk_size : int or None, default=None
        Images per chunk; None chooses about 2**20 pixel values per chunk.

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of one image after resizing and colour conversion.
    n_features_out_ : int
        Number of features (pixels x channels).

    Examples
    --------
    >>> import numpy as np
    >>> from features import RawPixels
    >>> images = np.zeros((5, 8, 8, 3), dtype=np.uint8)
    >>> RawPixels(grey=True).fit_transform(images).shape
    (5, 64)
    """

    _parameter_constraints: dict = {
        **BaseImageTransformer._parameter_constraints,
        "grey": ["boolean"],
        "grayscale": ["boolean", Hidden(StrOptions({"deprecated"}))],
    }
    _input_dtype = "float32"

    def __init__(self, *, size=None, grey=False, grayscale="deprecated", chunk_size=None):
        self.size = size
        self.grey = grey
        self.grayscale = grayscale
        self.chunk_size = chunk_size

    def _grey(self):
        return self.grey if self.grayscale == "deprecated" else self.grayscale

    def _fit_images(self, images, y):
        if self.grayscale != "deprecated":
            warnings.warn(
                "RawPixels(grayscale=...) is deprecated and will be removed in the next "
                "release; use grey=... instead.",
                FutureWarning,
                stacklevel=4,
            )

    def _channel_mode(self):
        return "grey" if self._grey() else "any"

    def _n_output_features(self):
        return int(np.prod(self.image_shape_))

    def _feature_names(self):
        rows, cols = self.image_shape_[:2]
        if len(self.image_shape_) == 2:
            return [f"r{r}_c{c}" for r in range(rows) for c in range(cols)]
        return [f"r{r}_c{c}_{ch}" for r in range(rows) for c in range(cols) for ch in "RGB"]

    def _transform_batch(self, images):
        return images.reshape(len(images), -1)
