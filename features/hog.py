"""Histogram of Oriented Gradients (HOG), with exactly scikit-image's numbers, for whole batches.

The public pieces:

* :class:`HOG` - the scikit-learn transformer;
* :func:`hog_features` - the pure function it calls (numba kernels, one pass per chunk);
* :func:`hog_cell_histograms` - the per-cell orientation histograms before block normalisation
  (stable API, used for dense HOG descriptors);
* :func:`hog_image` - the glyph picture of scikit-image's ``hog(..., visualize=True)``.
"""

from functools import lru_cache
from numbers import Integral

import numpy as np

from . import _hog_kernels as kernels
from ._base import BaseImageTransformer
from ._validation import Interval, Options, StrOptions, as_image_batch, check_pair

BLOCK_NORMS = {
    "L1": kernels.L1,
    "L1-sqrt": kernels.L1_SQRT,
    "L2": kernels.L2,
    "L2-Hys": kernels.L2_HYS,
}
_EPS = kernels.EPS
_LUT_SIDE = 511  # uint8 gradients are integers in [-255, 255]


# -- shared small helpers ---------------------------------------------------------------------
def _check_orientations(orientations, owner):
    if not isinstance(orientations, Integral) or isinstance(orientations, bool) or orientations < 1:
        raise ValueError(
            f"The 'orientations' parameter of {owner} must be an int >= 1. "
            f"Got {orientations!r} instead."
        )
    return int(orientations)


def _n_cells(image_shape, pixels_per_cell):
    return image_shape[0] // pixels_per_cell[0], image_shape[1] // pixels_per_cell[1]


def _float_dtype(dtype):
    """scikit-image's working float type: float32 for float16/float32, else float64."""
    return np.float32 if dtype in (np.float16, np.float32) else np.float64


@lru_cache(maxsize=8)
def _gradient_tables(orientations):
    """Magnitude and orientation bin of every uint8 gradient pair (g_row, g_col).

    Built with scikit-image's expressions on the 511 x 511 integer pairs, so the table entries
    are bit-identical to what ``skimage.feature.hog`` computes per pixel. A bin equal to
    ``orientations`` means the orientation falls in no bin (cannot happen for integer pairs,
    kept for symmetry with the float path).
    """
    values = np.arange(-255, 256, dtype=np.float64)
    g_row, g_col = np.meshgrid(values, values, indexing="ij")
    magnitude = np.hypot(g_col, g_row)
    orientation = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    bins = _orientation_bins(orientation, orientations)
    bin_dtype = np.uint8 if orientations < 255 else np.uint16
    return magnitude.ravel(), bins.ravel().astype(bin_dtype), _tied_sums(g_row, g_col, magnitude)


def _tied_sums(g_row, g_col, magnitude):
    """Which sums ``g_row**2 + g_col**2`` have pairs whose hypot differ (in the last bit).

    A larger integer sum always has a larger table magnitude (checked here), so the colour
    kernel picks a pixel's channel by comparing integer sums and asks the magnitude table
    only on ties of these few sums.
    """
    sums = (g_row**2 + g_col**2).astype(np.int64).ravel()
    magnitude = magnitude.ravel()
    low = np.full(sums.max() + 1, np.inf)
    high = np.full(sums.max() + 1, -np.inf)
    np.minimum.at(low, sums, magnitude)
    np.maximum.at(high, sums, magnitude)
    present = np.isfinite(low)
    if not (low[present][1:] > high[present][:-1]).all():
        raise RuntimeError("np.hypot is not monotonic in g_row**2 + g_col**2 on this platform")
    return high > low


def _orientation_bins(orientation, orientations):
    """Bin ``b`` with ``(180 / orientations) * b <= orientation < (180 / orientations) * (b + 1)``.

    scikit-image's half-open intervals with its float64 bounds; ``orientations`` for none (an
    orientation of exactly 180, from ``x % 180`` of a tiny negative angle).
    """
    bounds = (180.0 / orientations) * np.arange(orientations + 1)
    return np.searchsorted(bounds, orientation, side="right") - 1


def _magnitude_orientation(images, transform_sqrt):
    """Per-pixel gradient magnitude and orientation (degrees in [0, 180]) as scikit-image does.

    Steps 1-2 of :func:`hog_features` in NumPy: optional square root, central differences
    ``[-1, 0, 1]`` with 0 on the border rows/cols, for colour the channel with the largest
    magnitude (in the working float type, first channel on ties), then float64 magnitude and
    orientation.
    """
    images = images.astype(_float_dtype(images.dtype), copy=False)
    if transform_sqrt:
        images = np.sqrt(images)
    g_row = np.zeros_like(images)
    g_row[:, 1:-1] = images[:, 2:] - images[:, :-2]
    g_col = np.zeros_like(images)
    g_col[:, :, 1:-1] = images[:, :, 2:] - images[:, :, :-2]
    if images.ndim == 4:
        strongest = np.hypot(g_row, g_col).argmax(axis=3)[..., None]
        g_row = np.take_along_axis(g_row, strongest, axis=3)[..., 0]
        g_col = np.take_along_axis(g_col, strongest, axis=3)[..., 0]
    g_row = g_row.astype(np.float64, copy=False)
    g_col = g_col.astype(np.float64, copy=False)
    magnitude = np.hypot(g_col, g_row)
    orientation = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    return magnitude, orientation


# -- fast path ----------------------------------------------------------------------------------
def _cell_histograms(images, orientations, pixels_per_cell, transform_sqrt):
    """float64 cell means (n, n_cell_rows, n_cell_cols, orientations) through the kernels."""
    n, rows, cols = images.shape[:3]
    cell_rows, cell_cols = pixels_per_cell
    n_cell_rows, n_cell_cols = _n_cells((rows, cols), pixels_per_cell)
    hist = np.empty((n, n_cell_rows, n_cell_cols, orientations), dtype=np.float64)
    if images.dtype == np.uint8 and not transform_sqrt:
        magnitude_lut, bin_lut, tied_sums = _gradient_tables(orientations)
        planes = images[:, None] if images.ndim == 3 else np.moveaxis(images, 3, 1)
        planes = np.ascontiguousarray(planes)
        kernels.cell_histograms_lut(
            planes, magnitude_lut, bin_lut, tied_sums, cell_rows, cell_cols, orientations, hist
        )
        return hist
    # Only the covered rows/cols and one more (for the last covered pixel's gradient).
    used_rows = min(rows, n_cell_rows * cell_rows + 1)
    used_cols = min(cols, n_cell_cols * cell_cols + 1)
    magnitude, orientation = _magnitude_orientation(
        images[:, :used_rows, :used_cols], transform_sqrt
    )
    kernels.cell_histograms_float(magnitude, orientation, cell_rows, cell_cols, orientations, hist)
    return hist


def hog_cell_histograms(images, *, orientations=9, pixels_per_cell=(8, 8), transform_sqrt=False):
    """Per-cell orientation histograms of a batch, as scikit-image computes them before blocks.

    This signature is a stable API (dense HOG descriptors are built on it). Each cell's
    histogram is the mean over the cell's pixels of the gradient magnitude voted to the pixel's
    orientation bin (no interpolation), exactly scikit-image's ``orientation_histogram``.
    Pixels beyond the last whole cell are ignored.

    Parameters
    ----------
    images : ndarray of shape (n, rows, cols) or (n, rows, cols, channels)
        uint8 (used as 0-255), uint16 (0-65535) or float images. Colour: per pixel the channel
        with the largest gradient magnitude.
    orientations : int, default=9
        Number of orientation bins over [0, 180) degrees.
    pixels_per_cell : int or pair of int, default=(8, 8)
        Cell size (rows, cols).
    transform_sqrt : bool, default=False
        Take the square root of the pixel values first.

    Returns
    -------
    hist : ndarray of shape (n, rows // cell_rows, cols // cell_cols, orientations), float32

    Examples
    --------
    >>> import numpy as np
    >>> images = np.zeros((2, 16, 24), dtype=np.uint8)
    >>> images[:, :, 12:] = 255
    >>> hist = hog_cell_histograms(images, orientations=9, pixels_per_cell=(8, 8))
    >>> hist.shape
    (2, 2, 3, 9)
    >>> float(hist[0, 0, 1, 0])  # cols 11 and 12 of the middle cell see a vertical edge
    63.75
    """
    images, orientations, pixels_per_cell = _check_cell_params(
        images, orientations, pixels_per_cell, "hog_cell_histograms"
    )
    hist = _cell_histograms(images, orientations, pixels_per_cell, transform_sqrt)
    return hist.astype(np.float32)


def _check_cell_params(images, orientations, pixels_per_cell, owner):
    images = as_image_batch(images, owner=owner)
    orientations = _check_orientations(orientations, owner)
    pixels_per_cell = check_pair(pixels_per_cell, "pixels_per_cell", owner)
    n_cell_rows, n_cell_cols = _n_cells(images.shape[1:3], pixels_per_cell)
    if n_cell_rows < 1 or n_cell_cols < 1:
        raise ValueError(
            f"Images of shape {images.shape[1:3]} are too small for "
            f"pixels_per_cell={pixels_per_cell}: need at least {pixels_per_cell[0]} rows and "
            f"{pixels_per_cell[1]} cols."
        )
    return images, orientations, pixels_per_cell


def _check_block_params(images, orientations, pixels_per_cell, cells_per_block, block_norm, owner):
    images = as_image_batch(images, owner=owner)
    orientations = _check_orientations(orientations, owner)
    pixels_per_cell = check_pair(pixels_per_cell, "pixels_per_cell", owner)
    cells_per_block = check_pair(cells_per_block, "cells_per_block", owner)
    if block_norm not in BLOCK_NORMS:
        raise ValueError(
            f"The 'block_norm' parameter of {owner} must be one of {sorted(BLOCK_NORMS)}. "
            f"Got {block_norm!r} instead."
        )
    need = min_image_shape(pixels_per_cell, cells_per_block)
    rows, cols = images.shape[1:3]
    if rows < need[0] or cols < need[1]:
        raise ValueError(
            f"Images of shape ({rows}, {cols}) are too small for pixels_per_cell="
            f"{pixels_per_cell} and cells_per_block={cells_per_block}: need at least "
            f"{need[0]} rows and {need[1]} cols."
        )
    return images, orientations, pixels_per_cell, cells_per_block


def min_image_shape(pixels_per_cell, cells_per_block):
    """Smallest (rows, cols) holding one block: ``cells_per_block * pixels_per_cell``.

    Examples
    --------
    >>> min_image_shape((8, 8), (3, 3))
    (24, 24)
    """
    return (pixels_per_cell[0] * cells_per_block[0], pixels_per_cell[1] * cells_per_block[1])


def n_hog_features(image_shape, *, orientations, pixels_per_cell, cells_per_block):
    """Length of the HOG vector of one image of ``image_shape`` (rows, cols[, channels]).

    ``n_blocks_row * n_blocks_col * cells_per_block[0] * cells_per_block[1] * orientations``
    with ``n_blocks = rows // pixels_per_cell - cells_per_block + 1`` per axis.

    Examples
    --------
    >>> n_hog_features((128, 64), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    3780
    """
    n_cell_rows, n_cell_cols = _n_cells(image_shape, pixels_per_cell)
    n_block_rows = n_cell_rows - cells_per_block[0] + 1
    n_block_cols = n_cell_cols - cells_per_block[1] + 1
    return n_block_rows * n_block_cols * cells_per_block[0] * cells_per_block[1] * orientations


def hog_features(
    images,
    *,
    orientations=9,
    pixels_per_cell=(8, 8),
    cells_per_block=(3, 3),
    block_norm="L2-Hys",
    transform_sqrt=False,
    dtype=np.float32,
):
    """HOG vectors of a batch of images, equal to ``skimage.feature.hog`` image by image.

    Steps (the numbers of scikit-image's ``hog``):

    1. optionally take the square root of every pixel value (``transform_sqrt``);
    2. gradients by central differences ``[-1, 0, 1]`` along rows and cols, 0 on the first and
       last row (row gradient) and col (col gradient); for colour, per pixel the channel with
       the largest gradient magnitude;
    3. per cell, the mean over its pixels of the magnitude voted to the orientation bin
       ``floor(orientation / (180 / orientations))`` of the unsigned orientation in [0, 180);
    4. per block of ``cells_per_block`` cells (stride one cell), normalise the concatenated cell
       histograms with ``block_norm`` (eps = 1e-5);
    5. concatenate the blocks in (block row, block col, cell row, cell col, bin) order.

    With ``block_norm=None`` steps 4-5 become: concatenate the unnormalised cell histograms in
    (cell row, cell col, bin) order (the lecture's per-cell histograms; ``cells_per_block`` is
    not used).

    uint8 images without ``transform_sqrt`` take the table route (their gradients are
    integers in [-255, 255], magnitude and bin come from 511 x 511 tables); everything else
    computes magnitude and orientation with NumPy. Steps 3-4 run in numba kernels over the
    whole batch.

    Parameters
    ----------
    images : ndarray of shape (n, rows, cols) or (n, rows, cols, channels)
        uint8 (used as 0-255, not rescaled), uint16 (0-65535) or float images.
    orientations : int, default=9
        Number of orientation bins over [0, 180) degrees.
    pixels_per_cell : int or pair of int, default=(8, 8)
        Cell size (rows, cols).
    cells_per_block : int or pair of int, default=(3, 3)
        Block size in cells (rows, cols).
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"} or None, default="L2-Hys"
        ``L1``: v / (|v|_1 + eps); ``L1-sqrt``: its square root; ``L2``: v / sqrt(|v|_2^2 +
        eps^2); ``L2-Hys``: L2, clip at 0.2, L2 again. None: no blocks, the cell histograms
        of :func:`hog_cell_histograms` unnormalised.
    transform_sqrt : bool, default=False
        Power-law (square root) compression of the pixel values first.
    dtype : {np.float32, np.float64}, default=np.float32
        Output dtype.

    Returns
    -------
    features : ndarray of shape (n, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 256, size=(4, 128, 64), dtype=np.uint8)
    >>> hog_features(images, cells_per_block=(2, 2)).shape
    (4, 3780)
    >>> hog_features(images, block_norm=None).shape  # 16 x 8 cells of 9 bins
    (4, 1152)
    """
    if block_norm is None:
        images, orientations, pixels_per_cell = _check_cell_params(
            images, orientations, pixels_per_cell, "hog_features"
        )
        check_pair(cells_per_block, "cells_per_block", "hog_features")
        hist = _cell_histograms(images, orientations, pixels_per_cell, transform_sqrt)
        return hist.reshape(len(hist), -1).astype(dtype)
    images, orientations, pixels_per_cell, cells_per_block = _check_block_params(
        images, orientations, pixels_per_cell, cells_per_block, block_norm, "hog_features"
    )
    hist = _cell_histograms(images, orientations, pixels_per_cell, transform_sqrt)
    n_features = n_hog_features(
        images.shape[1:3],
        orientations=orientations,
        pixels_per_cell=pixels_per_cell,
        cells_per_block=cells_per_block,
    )
    out = np.empty((len(images), n_features), dtype=dtype)
    kernels.normalize_blocks(hist, *cells_per_block, BLOCK_NORMS[block_norm], out)
    return out


# -- visualisation ------------------------------------------------------------------------------
def hog_image(
    image,
    *,
    orientations=9,
    pixels_per_cell=(8, 8),
    cells_per_block=(3, 3),
    block_norm="L2-Hys",
    transform_sqrt=False,
):
    """The glyph picture of an image's HOG, as ``skimage.feature.hog(..., visualize=True)``.

    For each cell and bin, a segment through the cell centre perpendicular to the bin's middle
    orientation, of radius ``min(pixels_per_cell) // 2 - 1``, adds the cell's (unnormalised)
    histogram value to the pixels it covers.

    Parameters
    ----------
    image : ndarray of shape (rows, cols) or (rows, cols, channels)
        One image, uint8, uint16 or float.
    orientations, pixels_per_cell, transform_sqrt
        As in :func:`hog_features`.
    cells_per_block, block_norm
        Accepted so that :class:`HOG`'s parameters can be passed; they do not change the
        picture (it shows cell histograms).

    Returns
    -------
    picture : ndarray of shape (rows, cols)
        float32 for float16/float32 images, else float64.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((32, 32), dtype=np.uint8)
    >>> image[:, 16:] = 255
    >>> hog_image(image, pixels_per_cell=(8, 8)).shape
    (32, 32)
    """
    del cells_per_block, block_norm
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(
            f"hog_image expects one image of shape (rows, cols[, channels]); "
            f"got an array of shape {image.shape}."
        )
    pixels_per_cell = check_pair(pixels_per_cell, "pixels_per_cell", "hog_image")
    hist = hog_cell_histograms(
        image[None],
        orientations=orientations,
        pixels_per_cell=pixels_per_cell,
        transform_sqrt=transform_sqrt,
    )[0].astype(np.float64)
    cell_rows, cell_cols = pixels_per_cell
    n_cell_rows, n_cell_cols = hist.shape[:2]
    picture = np.zeros(image.shape[:2], dtype=_float_dtype(image.dtype))

    radius = min(cell_rows, cell_cols) // 2 - 1
    middles = np.pi * (np.arange(orientations) + 0.5) / orientations
    centre_rows = np.arange(n_cell_rows) * cell_rows + cell_rows // 2
    centre_cols = np.arange(n_cell_cols) * cell_cols + cell_cols // 2
    for o, middle in enumerate(middles):
        d_row, d_col = radius * np.sin(middle), radius * np.cos(middle)
        # Segment ends, truncated toward zero as int() does, relative to each cell's centre;
        # cells with the same relative ends share one drawn line.
        row_ends = (
            np.stack([np.trunc(centre_rows - d_col), np.trunc(centre_rows + d_col)], axis=1).astype(
                int
            )
            - centre_rows[:, None]
        )
        col_ends = (
            np.stack([np.trunc(centre_cols + d_row), np.trunc(centre_cols - d_row)], axis=1).astype(
                int
            )
            - centre_cols[:, None]
        )
        for row_end in np.unique(row_ends, axis=0):
            in_rows = (row_ends == row_end).all(axis=1)
            for col_end in np.unique(col_ends, axis=0):
                in_cols = (col_ends == col_end).all(axis=1)
                rr, cc = _line(row_end[0], col_end[0], row_end[1], col_end[1])
                r_idx = centre_rows[in_rows][:, None, None] + rr
                c_idx = centre_cols[in_cols][None, :, None] + cc
                values = hist[np.ix_(in_rows, in_cols)][:, :, o, None]
                r_idx, c_idx, values = np.broadcast_arrays(r_idx, c_idx, values)
                np.add.at(picture, (r_idx.ravel(), c_idx.ravel()), values.ravel())
    return picture


def _line(r0, c0, r1, c1):
    from skimage.draw import line

    return line(int(r0), int(c0), int(r1), int(c1))


# -- estimator ----------------------------------------------------------------------------------
class HOG(BaseImageTransformer):
    """Histogram of Oriented Gradients of every image, equal to ``skimage.feature.hog``.

    For image ``i``, ``HOG(**p).fit_transform(X)[i]`` equals
    ``skimage.feature.hog(X[i], **p, channel_axis=-1)`` for colour (``None`` for grey) to
    float32 precision; uint8 pixels are used as 0-255 and uint16 as 0-65535, as scikit-image
    uses them. See :func:`hog_features` for the steps.

    Parameters
    ----------
    orientations : int, default=9
        Number of orientation bins over [0, 180) degrees.
    pixels_per_cell : int or pair of int, default=(8, 8)
        Cell size (rows, cols).
    cells_per_block : int or pair of int, default=(3, 3)
        Block size in cells (rows, cols); blocks overlap with a stride of one cell.
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"} or None, default="L2-Hys"
        Block normalisation (eps = 1e-5). None: the unnormalised cell histograms, in (cell
        row, cell col, bin) order, without blocks (``cells_per_block`` is then not used):
        the lecture's per-cell histograms, one mean gradient magnitude per bin and cell.
    transform_sqrt : bool, default=False
        Square root of the pixel values first (power-law compression).
    size : tuple of (int, int) or None, default=None
        Resize every image to (rows, cols) first (OpenCV).
    dtype : {np.float32, np.float64}, default=np.float32
        Output dtype.
    chunk_size : int or None, default=None
        Images per chunk; None chooses about 2**20 pixel values per chunk.

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of one image after resizing.
    n_features_out_ : int
        Length of each HOG vector.

    Notes
    -----
    The method of Dalal and Triggs [1]_ as scikit-image implements it, with its deviations
    from the paper: no Gaussian window over the block, no interpolation between bins or cells
    (each pixel votes into one bin of its own cell), and a cell histogram is a mean, not a sum
    (this only matters through eps). The defaults here are scikit-image's: 3 x 3 cells per block
    (the paper uses 2 x 2) and L2-Hys, as in the paper.

    References
    ----------
    .. [1] Dalal, N. and Triggs, B., "Histograms of Oriented Gradients for Human Detection",
       CVPR 2005, :doi:`10.1109/CVPR.2005.177`.

    Examples
    --------
    >>> import numpy as np
    >>> from features import HOG
    >>> images = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    >>> hog = HOG(pixels_per_cell=(8, 8), cells_per_block=(2, 2)).fit(images)
    >>> hog.transform(images).shape
    (10, 324)
    >>> hog.get_feature_names_out()[:2].tolist()
    ['hog_block0_0_cell0_0_bin0', 'hog_block0_0_cell0_0_bin1']
    """

    _parameter_constraints: dict = {
        **BaseImageTransformer._parameter_constraints,
        "orientations": [Interval(Integral, 1, None, closed="left")],
        "pixels_per_cell": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "cells_per_block": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "block_norm": [StrOptions(set(BLOCK_NORMS)), None],
        "transform_sqrt": ["boolean"],
        "dtype": [Options(type, {np.float32, np.float64})],
    }
    _input_dtype = "native"

    def __init__(
        self,
        *,
        orientations=9,
        pixels_per_cell=(8, 8),
        cells_per_block=(3, 3),
        block_norm="L2-Hys",
        transform_sqrt=False,
        size=None,
        dtype=np.float32,
        chunk_size=None,
    ):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.transform_sqrt = transform_sqrt
        self.size = size
        self.dtype = dtype
        self.chunk_size = chunk_size

    def _pairs(self):
        owner = type(self).__name__
        return (
            check_pair(self.pixels_per_cell, "pixels_per_cell", owner),
            check_pair(self.cells_per_block, "cells_per_block", owner),
        )

    def _min_image_shape(self):
        pixels_per_cell, cells_per_block = self._pairs()
        if self.block_norm is None:
            return pixels_per_cell, f"pixels_per_cell={pixels_per_cell}"
        reason = f"pixels_per_cell={pixels_per_cell} and cells_per_block={cells_per_block}"
        return min_image_shape(pixels_per_cell, cells_per_block), reason

    def _n_output_features(self):
        pixels_per_cell, cells_per_block = self._pairs()
        if self.block_norm is None:
            return int(np.prod(_n_cells(self.image_shape_, pixels_per_cell))) * self.orientations
        return n_hog_features(
            self.image_shape_,
            orientations=self.orientations,
            pixels_per_cell=pixels_per_cell,
            cells_per_block=cells_per_block,
        )

    def _feature_names(self):
        pixels_per_cell, (block_rows, block_cols) = self._pairs()
        n_cell_rows, n_cell_cols = _n_cells(self.image_shape_, pixels_per_cell)
        if self.block_norm is None:
            return [
                f"cell{r}_{c}_bin{o}"
                for r in range(n_cell_rows)
                for c in range(n_cell_cols)
                for o in range(self.orientations)
            ]
        return [
            f"block{br}_{bc}_cell{br + r}_{bc + c}_bin{o}"
            for br in range(n_cell_rows - block_rows + 1)
            for bc in range(n_cell_cols - block_cols + 1)
            for r in range(block_rows)
            for c in range(block_cols)
            for o in range(self.orientations)
        ]

    def _output_dtype(self):
        return self.dtype

    def _transform_batch(self, images):
        pixels_per_cell, cells_per_block = self._pairs()
        return hog_features(
            images,
            orientations=self.orientations,
            pixels_per_cell=pixels_per_cell,
            cells_per_block=cells_per_block,
            block_norm=self.block_norm,
            transform_sqrt=self.transform_sqrt,
            dtype=self.dtype,
        )
