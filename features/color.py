"""Colour histograms in several colour spaces, joint or per channel, over a grid of cells."""

import warnings
from functools import lru_cache
from itertools import product
from numbers import Integral

import cv2
import numpy as np

from . import _color_kernels as kernels
from ._base import BaseImageTransformer
from ._validation import Interval, StrOptions, check_pair

# OpenCV's 8-bit conversions from RGB. ``ranges`` are the half-open value ranges [low, high)
# over which each channel is binned: the values the conversion can produce from 8-bit sRGB
# (hue is H / 2 in [0, 180); Lab is L * 255 / 100, a + 128, b + 128, and the sRGB gamut reaches
# only a in [42, 226] and b in [20, 223], found by converting all 2**24 colours).
COLOR_SPACES = {
    "rgb": {"code": None, "channels": ("R", "G", "B"), "ranges": ((0, 256),) * 3},
    "hsv": {
        "code": cv2.COLOR_RGB2HSV,
        "channels": ("H", "S", "V"),
        "ranges": ((0, 180), (0, 256), (0, 256)),
    },
    "lab": {
        "code": cv2.COLOR_RGB2LAB,
        "channels": ("L", "a", "b"),
        "ranges": ((0, 256), (42, 227), (20, 224)),
    },
    "ycrcb": {
        "code": cv2.COLOR_RGB2YCrCb,
        "channels": ("Y", "Cr", "Cb"),
        "ranges": ((0, 256),) * 3,
    },
    "grey": {"code": cv2.COLOR_RGB2GRAY, "channels": ("grey",), "ranges": ((0, 256),)},
}
_DEPRECATED_SPACES = {"gray": "grey"}  # old spelling: a FutureWarning, removed next release


def convert_color(images, color_space):
    """Convert a chunk of uint8 RGB images to ``color_space`` with one OpenCV call.

    The images are stacked as the rows of one tall image ``(m * rows, cols, 3)``, so the whole
    chunk is converted at once.

    Parameters
    ----------
    images : uint8 ndarray of shape (m, rows, cols, 3), or (m, rows, cols) for "grey"
        RGB images (grey images only with ``color_space="grey"``, returned as they are).
    color_space : {"rgb", "hsv", "lab", "ycrcb", "grey"}
        See :data:`COLOR_SPACES` and :class:`ColorHistogram` for the value ranges.

    Returns
    -------
    converted : uint8 ndarray of shape (m, rows, cols, 3), or (m, rows, cols) for "grey"

    Examples
    --------
    >>> import numpy as np
    >>> red = np.zeros((2, 1, 1, 3), dtype=np.uint8)
    >>> red[..., 0] = 255
    >>> convert_color(red, "hsv")[0, 0, 0]
    array([  0, 255, 255], dtype=uint8)
    """
    code = COLOR_SPACES[color_space]["code"]
    if code is None or images.ndim == 3:
        return images
    m, rows, cols, _ = images.shape
    tall = np.ascontiguousarray(images).reshape(m * rows, cols, 3)
    converted = cv2.cvtColor(tall, code)
    return converted.reshape((m, rows, cols) + converted.shape[2:])


def bin_lookup_tables(bins, ranges):
    """Bin index of every uint8 value, per channel, with ``np.histogram``'s edge rule.

    Channel ``c`` has ``bins[c]`` equal bins with edges ``np.linspace(low, high, bins[c] + 1)``
    (floats); value ``v`` falls in bin ``i`` when ``edges[i] <= v < edges[i + 1]``, exactly as
    ``np.histogram`` and ``np.histogramdd`` decide after their edge correction. Values outside
    [low, high) go to the first or last bin, so that every pixel is counted.

    Parameters
    ----------
    bins : sequence of int
        Bins per channel.
    ranges : sequence of (low, high)
        Value range per channel.

    Returns
    -------
    tables : intp ndarray of shape (channels, 256)

    Examples
    --------
    >>> bin_lookup_tables([2], [(0, 180)])[0, [0, 89, 90, 179, 255]]
    array([0, 0, 1, 1, 1])
    """
    values = np.arange(256)
    tables = np.empty((len(bins), 256), dtype=np.intp)
    for c, (n_bins, (low, high)) in enumerate(zip(bins, ranges)):
        edges = np.linspace(low, high, n_bins + 1)
        tables[c] = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
    return tables


def grid_cell_map(rows, cols, grid):
    """Cell number of every pixel, row-major, for ``grid=(gy, gx)`` cells.

    Rows are split into ``gy`` bands as ``np.array_split`` splits ``np.arange(rows)``: the first
    ``rows % gy`` bands have one row more than the others; columns likewise.

    Examples
    --------
    >>> grid_cell_map(3, 4, (2, 2))
    array([[0, 0, 1, 1],
           [0, 0, 1, 1],
           [2, 2, 3, 3]])
    """
    gy, gx = grid
    return _split_labels(rows, gy)[:, None] * gx + _split_labels(cols, gx)[None, :]


def _split_labels(n, parts):
    """Part number of each of ``n`` positions, split as ``np.array_split(range(n), parts)``."""
    small, extra = divmod(n, parts)
    return np.repeat(np.arange(parts), [small + 1] * extra + [small] * (parts - extra))


def _histogram_layout(images, bins, ranges, mode, grid):
    """Shared preparation of both implementations: (pixels, tables, cell offsets, bins per cell).

    ``pixels`` is ``(m, rows, cols, channels)``; ``tables`` (int32, read-only) hold each value's
    position within a cell's histogram; ``cells`` (int32, read-only, ``(rows, cols)``) the
    position of each pixel's cell.
    """
    pixels = images[..., None] if images.ndim == 3 else images
    m, rows, cols, channels = pixels.shape
    bins = _per_channel(bins, channels)
    if len(ranges) != channels:
        raise ValueError(f"Expected {channels} value ranges (one per channel); got {len(ranges)}.")
    if mode not in ("joint", "marginal"):
        raise ValueError(f"mode must be 'joint' or 'marginal'; got {mode!r}.")
    gy, gx = grid
    if rows < gy or cols < gx:
        raise ValueError(
            f"Images of shape ({rows}, {cols}) are too small for grid={(gy, gx)}: "
            f"need at least {gy} rows and {gx} cols."
        )
    per_cell = int(np.prod(bins)) if mode == "joint" else sum(bins)
    if per_cell * gy * gx >= 2**31:
        raise ValueError(
            f"bins={bins} in {mode} mode over grid={(gy, gx)} would make "
            f"{per_cell * gy * gx} features per image; at most 2**31 - 1 are supported."
        )
    ranges = tuple((low, high) for low, high in ranges)
    tables, cells, per_cell = _layout_tables(bins, ranges, mode, (rows, cols), (gy, gx))
    return pixels, tables, cells, per_cell


@lru_cache(maxsize=64)
def _layout_tables(bins, ranges, mode, shape, grid):
    """Lookup tables and cell offsets, computed once per configuration (every chunk reuses)."""
    tables = bin_lookup_tables(bins, ranges)
    if mode == "joint":
        # C order: channel c moves by the product of the later channels' bin counts.
        strides = np.cumprod((bins[1:] + (1,))[::-1])[::-1]
        tables *= strides[:, None]
        per_cell = int(np.prod(bins))
    else:
        tables += np.cumsum((0,) + bins[:-1])[:, None]
        per_cell = int(sum(bins))
    cells = grid_cell_map(*shape, grid) * per_cell
    tables, cells = tables.astype(np.int32), cells.astype(np.int32)
    tables.flags.writeable = cells.flags.writeable = False
    return tables, cells, per_cell


def _per_channel(bins, channels):
    if isinstance(bins, Integral):
        return (int(bins),) * channels
    if len(bins) != channels:
        raise ValueError(f"Expected {channels} bin counts (one per channel); got {len(bins)}.")
    return tuple(int(b) for b in bins)


_NORMS = {None: kernels.NORM_NONE, "l1": kernels.NORM_L1, "l2": kernels.NORM_L2}


def _check_normalize(normalize):
    if normalize not in _NORMS:
        raise ValueError(f"normalize must be 'l1', 'l2' or None; got {normalize!r}.")
    return _NORMS[normalize]


def color_histogram(images, *, bins, ranges, mode="joint", grid=(1, 1), normalize=None):
    """Histograms of a chunk of already converted uint8 images, per cell (fast numba kernel).

    Parameters
    ----------
    images : uint8 ndarray of shape (m, rows, cols, channels) or (m, rows, cols)
        Images in the colour space to histogram (see :func:`convert_color`).
    bins : int or sequence of int
        Bins per channel (one int for all).
    ranges : sequence of (low, high)
        Half-open value range [low, high) of each channel (see :data:`COLOR_SPACES`).
    mode : {"joint", "marginal"}, default="joint"
        "joint": one histogram over all channels together, flattened in C order (the last
        channel's bin varies fastest). "marginal": one histogram per channel, concatenated.
    grid : tuple of (int, int), default=(1, 1)
        (gy, gx) cells, split as by ``np.array_split`` (see :func:`grid_cell_map`); the cells'
        histograms are concatenated in row-major order.
    normalize : {"l1", "l2"} or None, default=None
        Scale each cell's histogram to unit norm; None keeps pixel counts.

    Returns
    -------
    features : float32 ndarray of shape (m, gy * gx * bins_per_cell)
        ``bins_per_cell`` is the product (joint) or the sum (marginal) of the bins.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.array([[[[0, 0, 0], [255, 255, 255]]]], dtype=np.uint8)
    >>> color_histogram(images, bins=2, ranges=[(0, 256)] * 3)
    array([[1., 0., 0., 0., 0., 0., 0., 1.]], dtype=float32)
    """
    norm = _check_normalize(normalize)
    pixels, tables, cells, per_cell = _histogram_layout(images, bins, ranges, mode, grid)
    n_features = grid[0] * grid[1] * per_cell
    features = np.empty((len(pixels), n_features), dtype=np.float32)
    kernels.histogram_counts(
        np.ascontiguousarray(pixels).reshape(len(pixels), -1, pixels.shape[3]),
        tables,
        cells.ravel(),
        mode == "joint",
        per_cell,
        norm,
        features,
    )
    return features


class ColorHistogram(BaseImageTransformer):
    """Colour histogram features, joint or per channel, over a grid of image cells.

    Steps:

    1. optionally resize every image to ``size`` (OpenCV);
    2. map the images to uint8 (floats in [0, 1] become ``round(255 x)``, so they bin exactly
       as their uint8 equivalents; uint16 becomes ``round(x / 257)``);
    3. convert the whole chunk from RGB to ``color_space`` with one OpenCV call;
    4. split each image into ``grid`` cells and count, per cell, the pixels in each bin: one
       joint histogram over the three channels, or one histogram per channel;
    5. optionally normalise each cell's histogram; concatenate the cells in row-major order.

    Each channel's range is split into equal bins with ``np.histogram``'s rule (edges
    ``np.linspace(low, high, bins + 1)``; bin ``i`` holds ``edges[i] <= v < edges[i + 1]``),
    over the range the channel really takes in OpenCV's 8-bit conversions:

    =========== ============================================ ==============================
    color_space channels and their 8-bit values                  binned over
    =========== ============================================ ==============================
    "rgb"       R, G, B: 0-255                               [0, 256) each
    "hsv"       H (hue in degrees / 2): 0-179; S, V: 0-255   [0, 180), [0, 256), [0, 256)
    "lab"       L (L * 255 / 100): 0-255; a, b (+ 128):      [0, 256), [42, 227), [20, 224)
                from sRGB, a takes 42-226 and b 20-223
    "ycrcb"     Y, Cr, Cb: 0-255 (Cr, Cb centred on 128)     [0, 256) each
    "grey"      grey level (BT.601 weights): 0-255           [0, 256)
    =========== ============================================ ==============================

    Parameters
    ----------
    bins : int or tuple of int, default=8
        Bins per channel; a tuple gives one count per channel (3, or 1 for "grey").
    color_space : {"rgb", "hsv", "lab", "ycrcb", "grey"}, default="hsv"
        Colour space of the histogram. All but "grey" need RGB input; "grey" converts colour
        images to grey and also accepts grey images.
    mode : {"joint", "marginal"}, default="joint"
        "joint": one 3-D histogram per cell, ``prod(bins)`` features flattened in C order
        (the last channel's bin varies fastest). "marginal": one histogram per channel,
        concatenated, ``sum(bins)`` features. The same for "grey".
    grid : int or tuple of (int, int), default=(1, 1)
        (gy, gx) cells. Rows are split into ``gy`` bands as ``np.array_split`` would split
        them (the first ``rows % gy`` bands get one row more); columns likewise.
    normalize : {"l1", "l2"} or None, default="l1"
        Scale each cell's histogram (all its bins, in marginal mode all channels together) to
        unit l1 or l2 norm, so that features do not depend on image or cell size; None keeps
        pixel counts (exact as float32 up to 2**24 pixels per cell).
    size : tuple of (int, int) or None, default=None
        Resize every image to (rows, cols) first. Needed for lists of images of mixed shapes.
    chunk_size : int or None, default=None
        Images per chunk; None chooses about 2**20 pixel values per chunk.

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of one image after resizing (and grey conversion for "grey").
    n_features_out_ : int
        ``gy * gx * prod(bins)`` (joint) or ``gy * gx * sum(bins)`` (marginal).

    See Also
    --------
    color_histogram : The function that computes the histograms of converted images.

    Notes
    -----
    Colour histograms as image features go back to Swain and Ballard [1]_; the grid of cells
    keeps some of the spatial layout that a single histogram discards.

    Lab's a and b channels are binned over the values 8-bit sRGB colours reach (found by
    converting all 2**24 of them), not over [0, 256), where a third of the bins would stay
    empty. Normalising each cell (rather than the whole vector) makes every cell a
    distribution, whatever its size (cells may differ by one row or column).

    With ``color_space="rgb", normalize=None`` the joint features of a cell equal
    ``np.histogramdd(cell.reshape(-1, 3), bins=bins, range=[(0, 256)] * 3)[0].ravel()`` and the
    marginal ones the concatenated ``np.histogram(cell[..., c], bins, range=(0, 256))[0]``.

    References
    ----------
    .. [1] Swain, M. J. and Ballard, D. H., "Color indexing", International Journal of
       Computer Vision 7, 11-32 (1991), :doi:`10.1007/BF00130487`.

    Examples
    --------
    >>> import numpy as np
    >>> from features import ColorHistogram
    >>> images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    >>> hist = ColorHistogram(bins=4, grid=(2, 2)).fit(images)
    >>> hist.transform(images).shape
    (5, 256)
    >>> hist.get_feature_names_out()[:2].tolist()
    ['colorhistogram_cell0_0_H0_S0_V0', 'colorhistogram_cell0_0_H0_S0_V1']
    """

    _parameter_constraints: dict = {
        **BaseImageTransformer._parameter_constraints,
        "bins": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "color_space": [
            StrOptions(
                set(COLOR_SPACES) | set(_DEPRECATED_SPACES), deprecated=set(_DEPRECATED_SPACES)
            )
        ],
        "mode": [StrOptions({"joint", "marginal"})],
        "grid": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "normalize": [StrOptions({"l1", "l2"}), None],
    }
    _input_dtype = "uint8"

    def __init__(
        self,
        *,
        bins=8,
        color_space="hsv",
        mode="joint",
        grid=(1, 1),
        normalize="l1",
        size=None,
        chunk_size=None,
    ):
        self.bins = bins
        self.color_space = color_space
        self.mode = mode
        self.grid = grid
        self.normalize = normalize
        self.size = size
        self.chunk_size = chunk_size

    # -- parameters checked by hand (tuples) ------------------------------------------------
    def _space(self):
        return _DEPRECATED_SPACES.get(self.color_space, self.color_space)

    def _grid(self):
        return check_pair(self.grid, "grid", type(self).__name__)

    def _bins(self):
        channels = len(COLOR_SPACES[self._space()]["channels"])
        bins = self.bins
        if isinstance(bins, Integral) and not isinstance(bins, bool):
            return (int(bins),) * channels
        if (
            len(bins) != channels
            or not all(isinstance(b, Integral) and not isinstance(b, bool) for b in bins)
            or min(bins) < 1
        ):
            raise ValueError(
                f"The 'bins' parameter of ColorHistogram must be an int in the range [1, inf) "
                f"or a tuple of {channels} such ints (one per channel of "
                f"{self._space()!r}). Got {bins!r} instead."
            )
        return tuple(int(b) for b in bins)

    def _bins_per_cell(self):
        bins = self._bins()
        return int(np.prod(bins)) if self.mode == "joint" else sum(bins)

    # -- hooks ------------------------------------------------------------------------------
    def _channel_mode(self):
        return "grey" if self._space() == "grey" else "rgb"

    def _min_image_shape(self):
        grid = self._grid()
        return grid, f"grid={grid}"

    def _fit_images(self, images, y):
        if self.color_space in _DEPRECATED_SPACES:
            warnings.warn(
                f"ColorHistogram(color_space={self.color_space!r}) is deprecated and will be "
                f"removed in the next release; use {self._space()!r} instead.",
                FutureWarning,
                stacklevel=4,
            )
        self._bins()  # raise on a bad tuple before any work

    def _n_output_features(self):
        gy, gx = self._grid()
        return gy * gx * self._bins_per_cell()

    def _feature_names(self):
        gy, gx = self._grid()
        names = COLOR_SPACES[self._space()]["channels"]
        bins = self._bins()
        if self.mode == "joint":
            combos = product(*[range(b) for b in bins])  # C order, as the features
            labels = ["_".join(f"{n}{i}" for n, i in zip(names, idx)) for idx in combos]
        else:
            labels = [f"{n}{i}" for n, b in zip(names, bins) for i in range(b)]
        return [f"cell{r}_{c}_{label}" for r in range(gy) for c in range(gx) for label in labels]

    def _transform_batch(self, images):
        converted = convert_color(images, self._space())
        return color_histogram(
            converted,
            bins=self._bins(),
            ranges=COLOR_SPACES[self._space()]["ranges"],
            mode=self.mode,
            grid=self._grid(),
            normalize=self.normalize,
        )
