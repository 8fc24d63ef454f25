"""The shared base of every image feature extractor."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import (
    Interval,
    _fit_context,
    as_image_batch,
    check_pair,
    output_image_shape,
    prepare_chunk,
)

# An automatic chunk holds about this many pixel values (rows x cols x channels, summed over its
# images): 2**20 values are 4 MiB as float32, so even an extractor with ten full-size float
# intermediates stays within tens of MiB per chunk.
_CHUNK_VALUES = 2**20


class BaseImageTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the image feature extractors: owns image input, chunking and output.

    A subclass sets the class attributes ``_input_dtype`` ("native", "uint8" or "float32", see
    :func:`features._validation.prepare_chunk`) and implements ``_transform_batch(images)``,
    which maps a whole chunk ``(m, rows, cols[, 3])`` to ``(m, n_features)``. It may override
    ``_channel_mode()``, ``_min_image_shape()``, ``_fit_images(images, y)``,
    ``_n_output_features()``, ``_feature_names()`` and ``_output_dtype()``.

    ``fit`` validates the batch, stores ``image_shape_`` (the shape of one image as the
    extractor sees it, after resizing and colour conversion) and ``n_features_out_``;
    ``transform`` checks that its images have the fitted shape, then converts and transforms
    them chunk by chunk into one preallocated output array.
    """

    _parameter_constraints: dict = {
        "size": [None, tuple, list],
        "chunk_size": [None, Interval(Integral, 1, None, closed="left")],
    }
    _input_dtype = "native"

    # -- hooks -------------------------------------------------------------------------------
    def _channel_mode(self):
        """ "any" keeps grey and colour, "grey" converts colour to grey, "rgb" requires colour."""
        return "any"

    def _min_image_shape(self):
        """((min_rows, min_cols), reason) for the images this extractor can handle."""
        return (1, 1), "this extractor"

    def _fit_images(self, images, y):
        """Learn state from the validated (unconverted) training batch; see ``_prepare``."""

    def _n_output_features(self):
        probe = np.zeros((1, *self.image_shape_), dtype=np.uint8)
        return self._transform_batch(self._prepare(probe)).shape[1]

    def _feature_names(self):
        return [str(i) for i in range(self.n_features_out_)]

    def _output_dtype(self):
        return np.float32

    def _transform_batch(self, images):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- machinery ---------------------------------------------------------------------------
    def _size(self):
        size = getattr(self, "size", None)
        return None if size is None else check_pair(size, "size", type(self).__name__)

    def _validate_images(self, X, *, reset):
        owner = type(self).__name__
        size = self._size()
        batch = as_image_batch(X, owner=owner, size=size)
        shape = output_image_shape(
            batch.shape, owner=owner, size=size, channels=self._channel_mode()
        )
        if reset:
            (min_rows, min_cols), reason = self._min_image_shape()
            if shape[0] < min_rows or shape[1] < min_cols:
                raise ValueError(
                    f"Images of shape ({shape[0]}, {shape[1]}) are too small for {reason}: "
                    f"need at least {min_rows} rows and {min_cols} cols."
                )
            self.image_shape_ = shape
        elif shape != self.image_shape_:
            raise ValueError(
                f"{owner} was fitted on images of shape {self.image_shape_}; "
                f"got images of shape {shape}."
            )
        return batch

    def _prepare(self, chunk):
        """Check the values of a chunk of a validated batch and convert it for the hook."""
        return prepare_chunk(
            chunk,
            owner=type(self).__name__,
            size=self._size(),
            channels=self._channel_mode(),
            dtype=self._input_dtype,
        )

    def _chunk_length(self, batch):
        if self.chunk_size is not None:
            return self.chunk_size
        values_per_image = int(np.prod(batch.shape[1:])) or 1
        return max(1, _CHUNK_VALUES // values_per_image)

    def _iter_chunks(self, batch):
        """Yield (start, stop, prepared chunk) over a validated batch."""
        step = self._chunk_length(batch)
        for start in range(0, len(batch), step):
            stop = min(start + step, len(batch))
            yield start, stop, self._prepare(batch[start:stop])

    # -- scikit-learn API --------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the training images and learn what the extractor needs.

        Parameters
        ----------
        X : ndarray of shape (n, rows, cols[, channels]) or list of images
            uint8, uint16, or float images with values in [0, 1].
        y : None or array-like of shape (n,)
            Ignored by extractors that learn nothing from labels.

        Returns
        -------
        self : object
            The fitted extractor.
        """
        batch = self._validate_images(X, reset=True)
        self._fit_images(batch, y)
        self.n_features_out_ = int(self._n_output_features())
        return self

    def transform(self, X):
        """Compute the features of a batch of images.

        Parameters
        ----------
        X : ndarray of shape (n, rows, cols[, channels]) or list of images
            Images of the shape seen in ``fit``.

        Returns
        -------
        features : ndarray of shape (n, n_features_out_)
        """
        check_is_fitted(self, "n_features_out_")
        batch = self._validate_images(X, reset=False)
        out = np.empty((len(batch), self.n_features_out_), dtype=self._output_dtype())
        for start, stop, chunk in self._iter_chunks(batch):
            out[start:stop] = self._transform_batch(chunk)
        return out

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def get_feature_names_out(self, input_features=None):
        """Names of the output features, prefixed by the lower-cased class name.

        Parameters
        ----------
        input_features : None
            Ignored; image extractors name their features by position, cell or bin.

        Returns
        -------
        names : ndarray of str objects of shape (n_features_out_,)
        """
        check_is_fitted(self, "n_features_out_")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}_{name}" for name in self._feature_names()], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = []
        return tags
