"""The image batch contract, and the one place that imports scikit-learn's private helpers.

A batch of images is one of

* an ndarray of shape ``(n, rows, cols)`` (grey) or ``(n, rows, cols, channels)`` with
  ``channels`` in {1, 3, 4} (RGB order; a fourth, alpha, channel is dropped; a single channel is
  grey);
* a list of such images, ``(rows, cols)`` or ``(rows, cols, channels)`` each, which must share
  one shape unless the extractor resizes them to a common ``size``.

Pixel values are uint8, uint16, or floats in [0, 1], in either byte order: an array whose
bytes are not in the machine's order (``">u2"``, ``">f4"``, as read from some files or sent
by another machine) is converted once, since its bytes read as native numbers would give
wrong features without any error. Validation happens in two stages so that
memory stays bounded: :func:`as_image_batch` checks the structure of the whole batch without
copying an ndarray, and :func:`prepare_chunk` checks the values of one chunk and converts it
(alpha, resizing, grey conversion, dtype) in a few whole-chunk operations.
"""

from numbers import Integral

import cv2
import numpy as np

# scikit-learn's private helpers, re-exported for the extractors: this block is the only import
# of them in the features package (models/_param.py is its twin for the models package, as the
# two packages never import each other). sklearn-compat would wrap ``_fit_context`` only, not
# the constraint classes, so a package of ours would still reach into _param_validation; one
# module per package keeps every private name in one place, and setup.cfg bounds scikit-learn
# to the minor series the tests passed on.
try:
    from sklearn.base import _fit_context  # noqa: F401
    from sklearn.utils._param_validation import (  # noqa: F401
        HasMethods,
        Hidden,
        Interval,
        Options,
        StrOptions,
    )
except ImportError as error:  # pragma: no cover - only with an untested scikit-learn
    import sklearn

    raise ImportError(
        f"visionfeatures needs scikit-learn's parameter-validation helpers, which scikit-learn "
        f"{sklearn.__version__} does not have where they were ({error}); install a "
        "scikit-learn that setup.cfg allows (pip install 'scikit-learn>=1.6,<1.10')."
    ) from error

_DTYPES = ("uint8", "uint16", "float16", "float32", "float64")
_CV_MAX_CHANNELS = 4  # every interpolation of cv2.resize handles up to 4 channels a call


def check_pair(value, name, owner, *, minimum=1):
    """Return ``value`` as a tuple of two ints >= ``minimum``, or raise a clear error.

    Parameters
    ----------
    value : int or pair of int
        A single int is used for both rows and columns.
    name : str
        The parameter's name, for the message.
    owner : str
        The estimator's class name, for the message.
    minimum : int, default=1
        The smallest value allowed.

    Returns
    -------
    pair : tuple of (int, int)

    Examples
    --------
    >>> check_pair((8, 4), "pixels_per_cell", "HOG")
    (8, 4)
    >>> check_pair(6, "patch_size", "BagOfVisualWords")
    (6, 6)
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)
        or min(value) < minimum
    ):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be an int or a pair of ints (rows, cols), "
            f"each >= {minimum}. Got {value!r} instead."
        )
    return int(value[0]), int(value[1])


def _shape_text(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def as_image_batch(images, *, owner, size=None):
    """Check the structure of a batch and return it as one ndarray, without converting values.

    Parameters
    ----------
    images : ndarray or list of ndarray
        See the module docstring.
    owner : str
        The name used in error messages (the extractor's class name).
    size : tuple of (int, int) or None
        The (rows, cols) the extractor resizes to. Only with a size may a list hold images of
        different shapes: each is resized here, one call per image, as they cannot be stacked.

    Returns
    -------
    batch : ndarray of shape (n, rows, cols) or (n, rows, cols, channels)
        The input itself when it was already such an array in the machine's byte order (no
        copy), else a stacked or byte-swapped copy.

    Raises
    ------
    ValueError
        For an empty batch, a wrong number of dimensions, an unsupported channel count or dtype,
        or a list of mixed shapes without ``size``.

    Examples
    --------
    >>> import numpy as np
    >>> as_image_batch([np.zeros((4, 5)), np.ones((4, 5))], owner="RawPixels").shape
    (2, 4, 5)
    >>> big_endian = np.full((1, 2, 2), 258, dtype=">u2")
    >>> batch = as_image_batch(big_endian, owner="RawPixels")
    >>> batch.dtype.isnative, int(batch[0, 0, 0])
    (True, 258)
    """
    if isinstance(images, (list, tuple)):
        images = _stack_list(images, owner=owner, size=size)
    elif not isinstance(images, np.ndarray):
        if hasattr(images, "__array__"):
            images = np.asarray(images)
        else:
            raise TypeError(
                f"{owner} expects images as an ndarray or a list of ndarrays; "
                f"got {type(images).__name__}."
            )
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{owner} expects images of shape (n, rows, cols[, channels]); "
            f"got an array of shape {_shape_text(images.shape)}."
        )
    if images.shape[0] == 0:
        raise ValueError(f"{owner} got an empty batch of images (n = 0).")
    if images.ndim == 4 and images.shape[3] not in (1, 3, 4):
        raise ValueError(
            f"{owner} expects 1, 3 or 4 channels (grey, RGB, RGBA); "
            f"got images of shape {_shape_text(images.shape[1:])}."
        )
    if images.dtype.name not in _DTYPES:
        raise ValueError(
            f"{owner} expects images of dtype uint8, uint16 or float (values in [0, 1]); "
            f"got dtype {images.dtype.name}."
        )
    if min(images.shape[1:3]) == 0:
        shape = _shape_text(images.shape[1:])
        raise ValueError(f"{owner} got images with no pixels: shape {shape}.")
    if not images.dtype.isnative:  # the kernels read the bytes as native numbers
        images = images.astype(images.dtype.newbyteorder("="))
    return images


def _stack_list(images, *, owner, size):
    if len(images) == 0:
        raise ValueError(f"{owner} got an empty batch of images (an empty list).")
    arrays = []
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim not in (2, 3):
            raise ValueError(
                f"{owner} expects each image in a list to have shape (rows, cols[, channels]); "
                f"image {i} has shape {_shape_text(image.shape)}."
            )
        arrays.append(image)
    dtypes = sorted({a.dtype.name for a in arrays})
    if len(dtypes) > 1:
        raise ValueError(f"{owner} got a list of images of mixed dtypes: {', '.join(dtypes)}.")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        if size is None:
            listed = ", ".join(_shape_text(s) for s in sorted(shapes)[:4])
            raise ValueError(
                f"{owner} got a list of images of different shapes ({listed}); "
                "give size=(rows, cols) to resize them to one shape."
            )
        depths = {a.shape[2:] for a in arrays}
        if len(depths) > 1:
            raise ValueError(
                f"{owner} got a list of images with different channel counts; "
                "convert them to one colour layout first."
            )
        arrays = [
            a if a.shape[:2] == tuple(size) else resize_images(a[None], size)[0] for a in arrays
        ]
    return np.stack(arrays)


def interpolation(shape, size):
    """The library's one resize rule: OpenCV's flag for images of ``shape`` resized to ``size``.

    INTER_AREA when shrinking (neither rows nor cols grow), as OpenCV recommends for
    decimation; INTER_LINEAR otherwise.

    Examples
    --------
    >>> import cv2
    >>> interpolation((64, 64), (32, 32)) == cv2.INTER_AREA
    True
    """
    shrinking = size[0] <= shape[0] and size[1] <= shape[1]
    return cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR


def resize_images(batch, size):
    """Resize a batch ``(n, rows, cols[, ch])`` to ``size`` with OpenCV, many images per call.

    The images are laid side by side as the channels of one image (OpenCV resizes each channel
    alone), so a call handles four planes: four grey images or one colour image and a plane of
    the next. The interpolation follows :func:`interpolation`.

    Parameters
    ----------
    batch : ndarray of shape (n, rows, cols) or (n, rows, cols, channels)
        uint8, uint16, float16, float32 or float64 images.
    size : tuple of (int, int)
        (rows, cols) wanted.

    Returns
    -------
    resized : ndarray of shape (n, size[0], size[1][, channels]), of the input's dtype

    Examples
    --------
    >>> import numpy as np
    >>> from features import resize_images
    >>> resize_images(np.zeros((2, 8, 8, 3), np.uint8), (4, 6)).shape
    (2, 4, 6, 3)
    """
    n, rows, cols = batch.shape[:3]
    out_rows, out_cols = size
    flag = interpolation((rows, cols), size)
    tail = batch.shape[3:]
    work = batch if batch.dtype != np.float16 else batch.astype(np.float32)
    planes = np.moveaxis(work.reshape(n, rows, cols, -1), 0, 2).reshape(rows, cols, -1)
    out = np.empty((out_rows, out_cols, planes.shape[2]), dtype=work.dtype)
    for start in range(0, planes.shape[2], _CV_MAX_CHANNELS):
        part = np.ascontiguousarray(planes[:, :, start : start + _CV_MAX_CHANNELS])
        resized = cv2.resize(part, (out_cols, out_rows), interpolation=flag)
        out[:, :, start : start + part.shape[2]] = resized.reshape(out_rows, out_cols, -1)
    out = np.moveaxis(out.reshape(out_rows, out_cols, n, -1), 2, 0)
    return np.ascontiguousarray(out.reshape((n, out_rows, out_cols) + tail)).astype(batch.dtype)


def output_image_shape(batch_shape, *, owner, size=None, channels="any"):
    """The per-image shape that :func:`prepare_chunk` makes of a batch of ``batch_shape``.

    Raises ``ValueError`` when ``channels="rgb"`` and the images are grey.
    """
    rows, cols = size if size is not None else batch_shape[1:3]
    depth = batch_shape[3] if len(batch_shape) == 4 else 1
    if channels == "rgb" and depth == 1:
        raise ValueError(
            f"{owner} needs colour images with 3 channels (RGB); got grey images of shape "
            f"{_shape_text(batch_shape[1:])}."
        )
    if channels == "grey" or depth == 1:
        return (rows, cols)
    return (rows, cols, 3)


def prepare_chunk(chunk, *, owner, size=None, channels="any", dtype="native"):
    """Check the values of one chunk of a batch and convert it for an extractor.

    Parameters
    ----------
    chunk : ndarray of shape (m, rows, cols[, channels])
        Part of a batch that passed :func:`as_image_batch`.
    owner : str
        The name used in error messages.
    size : tuple of (int, int) or None
        Resize to (rows, cols) with OpenCV (INTER_AREA when shrinking, else INTER_LINEAR).
    channels : {"any", "grey", "rgb"}
        "grey" converts RGB to grey with OpenCV (ITU-R BT.601 weights); "any" and "rgb" keep
        what came ("rgb" is enforced by :func:`output_image_shape`).
    dtype : {"native", "uint8", "float32"}
        Applied before resizing and grey conversion. "native" keeps uint8, uint16, float32 and
        float64 as they are (float16 becomes float32);
        "uint8" maps floats in [0, 1] to round(255 x) and uint16 to round(x / 257);
        "float32" maps uint8 to x / 255 and uint16 to x / 65535.

    Returns
    -------
    images : ndarray of shape (m, rows, cols) or (m, rows, cols, 3)

    Raises
    ------
    ValueError
        For NaN or infinite values, or floats outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> rgba = np.full((2, 4, 4, 4), 0.5)
    >>> prepare_chunk(rgba, owner="RawPixels", dtype="uint8")[0, 0, 0]
    array([128, 128, 128], dtype=uint8)
    """
    if chunk.dtype.kind == "f":
        if not np.isfinite(chunk).all():
            raise ValueError(f"{owner} got images containing NaN or infinity.")
        low, high = chunk.min(), chunk.max()
        if low < 0 or high > 1:
            raise ValueError(
                f"{owner} expects float images with values in [0, 1]; "
                f"got values in [{low:g}, {high:g}]."
            )
    if chunk.ndim == 4:
        chunk = chunk[..., 0] if chunk.shape[3] == 1 else chunk[..., :3]
    # Convert first, so that uint8 and float input take the same arithmetic below.
    chunk = _convert_dtype(chunk, dtype)
    if size is not None and tuple(size) != chunk.shape[1:3]:
        chunk = resize_images(chunk, size)
    if channels == "grey" and chunk.ndim == 4:
        chunk = _rgb_to_grey(chunk)
    return chunk


def _rgb_to_grey(chunk):
    """OpenCV's RGB to grey conversion of a whole chunk in one call (images stacked as rows)."""
    m, rows, cols, _ = chunk.shape
    tall = np.ascontiguousarray(chunk).reshape(m * rows, cols, 3)
    if tall.dtype == np.float64:
        tall = tall.astype(np.float32)
    grey = cv2.cvtColor(tall, cv2.COLOR_RGB2GRAY).reshape(m, rows, cols)
    return grey.astype(chunk.dtype, copy=False)


def _convert_dtype(chunk, dtype):
    kind = chunk.dtype
    if dtype == "native":
        return chunk if kind != np.float16 else chunk.astype(np.float32)
    if dtype == "uint8":
        if kind == np.uint8:
            return chunk
        if kind == np.uint16:
            return np.rint(chunk / 257.0).astype(np.uint8)
        return np.rint(chunk * 255.0).astype(np.uint8)
    if dtype == "float32":
        if kind == np.uint8:
            return chunk.astype(np.float32) / np.float32(255)
        if kind == np.uint16:
            return chunk.astype(np.float32) / np.float32(65535)
        return chunk.astype(np.float32, copy=False)
    raise ValueError(f"unknown dtype conversion {dtype!r}")
