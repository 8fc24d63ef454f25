"""Bag of visual words: a k-means codebook of local descriptors, encoded and pooled per image."""

from numbers import Integral, Real

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.cluster import MiniBatchKMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _bovw_kernels as kernels
from ._base import BaseImageTransformer
from ._validation import Interval, StrOptions

# Coates et al. add 10 to the variance of a patch of [0, 255] pixels before dividing by its
# square root; our pixels are in [0, 1], hence 10 / 255**2 (the default of normalize_patches;
# BagOfVisualWords takes its own, contrast_eps / 255**2).
CONTRAST_EPS = 10.0 / 255**2
# Descriptors of other kinds are L2-normalised with this floor on the norm.
_NORM_EPS = 1e-6
_HOG_ORIENTATIONS = 9
_SIFT_LENGTH = 128
# One block of distances (descriptors x words) holds about this many float32 values (32 MiB):
# large enough that multi-threaded BLAS calls are few (with 2 threads on a loaded machine a
# block of one 32x32 image, 729 x 1600 distances, ran 3 times slower), small enough for L3.
_BLOCK_VALUES = 2**23
# Descriptors of one block in fit (about 16 MiB of float32 values).
_FIT_BLOCK_VALUES = 2**22
_KMEANS_BATCH = 4096
_KMEANS_EPOCHS = 20
# sigma of the soft encoding is estimated on this many training descriptors.
_SIGMA_SAMPLES = 10_000
_POOLING_GRIDS = {"global": (1,), "quadrants": (2,), "pyramid": (1, 2, 4)}


# -- descriptors ---------------------------------------------------------------------------
def patch_grid(image_shape, patch_size, stride):
    """(rows, cols) of the grid of ``patch_size`` windows placed every ``stride`` pixels.

    Examples
    --------
    >>> patch_grid((32, 32, 3), 6, 1)
    (27, 27)
    """
    return (
        (image_shape[0] - patch_size) // stride + 1,
        (image_shape[1] - patch_size) // stride + 1,
    )


def extract_patches(images, patch_size, stride=1):
    """All ``patch_size`` x ``patch_size`` patches of a batch, every ``stride`` pixels (NumPy).

    Parameters
    ----------
    images : ndarray of shape (m, rows, cols) or (m, rows, cols, channels)
    patch_size : int
    stride : int, default=1

    Returns
    -------
    patches : ndarray of shape (m, grid_rows, grid_cols, patch_size * patch_size * channels)
        Each patch flattened in (row, col, channel) order.

    Examples
    --------
    >>> import numpy as np
    >>> extract_patches(np.zeros((2, 8, 8, 3), np.float32), 6, 2).shape
    (2, 2, 2, 108)
    """
    if images.ndim == 3:
        images = images[..., None]
    windows = sliding_window_view(images, (patch_size, patch_size), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]  # (m, grid_rows, grid_cols, ch, p, p)
    m, grid_rows, grid_cols = windows.shape[:3]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(m, grid_rows, grid_cols, -1)


def normalize_patches(patches, eps=CONTRAST_EPS):
    """Brightness and contrast normalisation: ``(x - mean) / sqrt(var + eps)`` per patch.

    The mean and the (unbiased) variance are taken over the last axis, as in Coates et al.; a
    patch of a single value becomes 0.

    Examples
    --------
    >>> import numpy as np
    >>> x = normalize_patches(np.array([[0.0, 0.5, 1.0]]), eps=0.0)
    >>> x.round(3).tolist()
    [[-1.0, 0.0, 1.0]]
    """
    centred = patches - patches.mean(axis=-1, keepdims=True)
    ddof = 1 if patches.shape[-1] > 1 else 0
    return centred / np.sqrt(centred.var(axis=-1, ddof=ddof, keepdims=True) + eps)


def _l2_normalize(descriptors):
    norms = np.sqrt(np.einsum("...i,...i->...", descriptors, descriptors))
    return descriptors / np.maximum(norms, _NORM_EPS)[..., None]


def hog_descriptors(images, cells_per_side, pixels_per_cell):
    """Dense HOG: every ``cells_per_side``-square block of HOG cells, one descriptor per cell.

    Returns an array (m, grid_rows, grid_cols, cells_per_side**2 * 9).
    """
    from .hog import hog_cell_histograms  # the HOG module owns the cell kernel

    cells = hog_cell_histograms(
        images, orientations=_HOG_ORIENTATIONS, pixels_per_cell=(pixels_per_cell,) * 2
    )
    windows = sliding_window_view(cells, (cells_per_side, cells_per_side), axis=(1, 2))
    m, grid_rows, grid_cols = windows.shape[:3]
    # (m, gr, gc, orientations, a, b) -> values ordered (a, b, orientation)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(m, grid_rows, grid_cols, -1)


def sift_descriptors(images, patch_size, stride):
    """OpenCV SIFT descriptors on a dense grid of keypoints of diameter ``patch_size``.

    ``images`` are grey, uint8. OpenCV computes SIFT one image at a time, so this function
    loops over the images (each call does the whole grid of one image).

    Returns an array (m, grid_rows, grid_cols, 128).
    """
    grid_rows, grid_cols = patch_grid(images.shape[1:], patch_size, stride)
    centre = patch_size / 2.0
    keypoints = [
        cv2.KeyPoint(c * stride + centre, r * stride + centre, float(patch_size))
        for r in range(grid_rows)
        for c in range(grid_cols)
    ]
    sift = cv2.SIFT_create()
    out = np.empty((len(images), grid_rows * grid_cols, _SIFT_LENGTH), dtype=np.float32)
    for n, image in enumerate(images):
        found, descriptors = sift.compute(image, keypoints)
        if descriptors is None or len(found) != len(keypoints):
            raise RuntimeError(
                f"OpenCV SIFT dropped keypoints of image {n}; use a smaller patch_size."
            )
        out[n] = descriptors
    return out.reshape(len(images), grid_rows, grid_cols, _SIFT_LENGTH)


# -- whitening -----------------------------------------------------------------------------
def fit_whitening(descriptors, eps):
    """ZCA whitening of the rows of ``descriptors``: returns ``(mean, W)``.

    ``(x - mean) @ W`` has covariance ``V diag(l / (l + eps)) V^T`` on the training rows
    (eigen-decomposition ``V diag(l) V^T`` of their covariance): the identity for
    ``eps = 0``. Directions of eigenvalue ``l + eps <= 1e-6 * max(l)`` (e.g. the constant
    direction of mean-normalised patches) are zeroed instead of divided by almost zero.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 3)) * [1.0, 2.0, 3.0]
    >>> mean, w = fit_whitening(x, 0.0)
    >>> bool(np.allclose(np.cov((x - mean) @ w, rowvar=False), np.eye(3)))
    True
    """
    x = np.asarray(descriptors, dtype=np.float64)
    mean = x.mean(axis=0)
    covariance = np.cov(x - mean, rowvar=False).reshape(x.shape[1], x.shape[1])
    values, vectors = np.linalg.eigh(covariance)
    regularised = np.clip(values, 0.0, None) + eps
    keep = regularised > 1e-6 * max(values.max(), 0.0)
    scale = np.zeros_like(values)
    scale[keep] = 1.0 / np.sqrt(regularised[keep])
    return mean, (vectors * scale) @ vectors.T


# -- encoding and pooling ------------------------------------------------------------------
def pooling_cells(grid_shape, side):
    """The cell index (row-major in a ``side`` x ``side`` grid) of each descriptor position.

    Position ``(r, c)`` of a ``grid_rows`` x ``grid_cols`` grid falls in cell
    ``(r * side // grid_rows, c * side // grid_cols)`` -- for 27 positions and 2 cells, the
    first 14 rows and the last 13, as Coates et al. split them.

    Examples
    --------
    >>> pooling_cells((3, 3), 2).reshape(3, 3).tolist()
    [[0, 0, 1], [0, 0, 1], [2, 2, 3]]
    """
    rows = np.arange(grid_shape[0]) * side // grid_shape[0]
    cols = np.arange(grid_shape[1]) * side // grid_shape[1]
    return (rows[:, None] * side + cols[None, :]).ravel().astype(np.intp)


def squared_distances(x, codebook):
    """Squared Euclidean distances ``||x||^2 - 2 x.c + ||c||^2`` (float32, clipped at 0)."""
    d2 = (
        np.einsum("ij,ij->i", x, x)[:, None]
        - 2.0 * (x @ codebook.T)
        + np.einsum("ij,ij->i", codebook, codebook)[None, :]
    )
    return np.maximum(d2, 0.0)


def encode_pool(x, codebook, encoding, cell_of_position, n_cells, *, sigma=None, out=None):
    """Encode descriptors and add the codes into pooling cells, fused (numba, float32).

    Parameters
    ----------
    x : ndarray of shape (m * n_positions, d), float32
        Descriptors of ``m`` images, ``n_positions = len(cell_of_position)`` per image,
        consecutive.
    codebook : ndarray of shape (k, d), float32
    encoding : {"hard", "soft", "triangle", "vlad"}
    cell_of_position : ndarray of shape (n_positions,) of int
    n_cells : int
    sigma : float, optional
        Bandwidth of the soft encoding.
    out : ndarray of shape (m, n_cells, k) (or (m, n_cells, k, d) for "vlad"), optional
        Zeroed or partial sums to add to.

    Returns
    -------
    out : ndarray of shape (m, n_cells, k) or (m, n_cells, k, d), float32
        Code sums per image and cell.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0, 0], [3, 4], [0, 1]], dtype=np.float32)
    >>> words = x[:2].copy()
    >>> encode_pool(x, words, "hard", np.array([0, 0, 1]), 2)[0].tolist()  # one image, 2 cells
    [[1.0, 1.0], [1.0, 0.0]]
    """
    n_positions = len(cell_of_position)
    m = len(x) // n_positions
    k, d = codebook.shape
    if out is None:
        shape = (m, n_cells, k, d) if encoding == "vlad" else (m, n_cells, k)
        out = np.zeros(shape, dtype=np.float32)
    terms = _codebook_terms(codebook)
    dots = np.empty((len(x), k), dtype=np.float32)
    _encode_pool_block(x, codebook, terms, encoding, cell_of_position, sigma, dots, out)
    return out


def _codebook_terms(codebook):
    """``-2 C^T`` (C-contiguous, for the product) and ``||c||^2`` of a float32 codebook."""
    neg2_t = np.ascontiguousarray(np.float32(-2.0) * codebook.T)
    return neg2_t, np.einsum("ij,ij->i", codebook, codebook)


def _encode_pool_block(x, codebook, terms, encoding, cell_of_position, sigma, dots, out):
    """One sgemm ``dots = -2 x C^T`` into the buffer ``dots``, then the fused kernel."""
    neg2_t, c_sq = terms
    np.matmul(x, neg2_t, out=dots)
    if encoding == "triangle":
        x_sq = np.einsum("ij,ij->i", x, x)
        kernels.triangle_pool(dots, x_sq, c_sq, cell_of_position, out)
    elif encoding == "hard":
        kernels.hard_pool(dots, c_sq, cell_of_position, out)
    elif encoding == "soft":
        x_sq = np.einsum("ij,ij->i", x, x)
        inv = np.float32(1.0 / (2.0 * sigma**2))
        kernels.soft_pool(dots, x_sq, c_sq, inv, cell_of_position, out)
    else:
        kernels.vlad_pool(dots, x, codebook, c_sq, cell_of_position, out)


def _pool_levels(fine, side, grids):
    """From sums over a ``side`` x ``side`` grid (m, side**2, ...) to the levels ``grids``."""
    m = len(fine)
    tail = fine.shape[2:]
    parts = []
    for g in grids:
        step = side // g
        blocks = fine.reshape(m, g, step, g, step, *tail).sum(axis=(2, 4))
        parts.append(blocks.reshape(m, -1))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


# -- estimator -----------------------------------------------------------------------------
class BagOfVisualWords(BaseImageTransformer):
    """Bag of visual words: k-means codebook of local descriptors, encoded and pooled.

    The single-layer network of Coates, Lee & Ng (2011), with classic alternatives for the
    descriptor, the encoding and the pooling. ``fit`` learns steps 3 and 4, ``transform``
    applies steps 1 to 6:

    1. cut every image into local descriptors on a dense grid: raw ``patch_size`` x
       ``patch_size`` pixel patches (all channels) every ``stride`` pixels; or dense HOG
       (blocks of HOG cells); or OpenCV SIFT at grid keypoints;
    2. normalise each descriptor: patches get brightness and contrast normalisation,
       ``(x - mean) / sqrt(var + contrast_eps / 255**2)`` (``contrast_eps`` is in [0, 255]
       pixel units, our pixels in [0, 1]); HOG and SIFT descriptors are L2-normalised;
    3. ZCA-whiten the descriptors, ``(x - mean) @ W`` with ``W = V diag(1 / sqrt(l + eps))
       V^T`` from the eigen-decomposition of their covariance on the training descriptors;
    4. (``fit``) learn ``n_words`` words with scikit-learn's ``MiniBatchKMeans`` (batches of
       4,096, 20 passes, k-means++ or random start) on ``n_training_patches`` descriptors drawn at
       random from the training images;
    5. encode every descriptor against the words, ``z_k = ||x - c_k||`` computed as
       ``||x||^2 - 2 x.c_k + ||c_k||^2`` with one float32 BLAS product per block of
       descriptors: "triangle" ``max(0, mean(z) - z_k)``, "hard" a one-hot vote for the
       nearest word, "soft" ``exp(-z_k^2 / (2 sigma^2))`` normalised to sum 1, "vlad" the
       residual ``x - c_k`` to the nearest word;
    6. sum the codes over pooling cells: the whole image ("global"), its four quadrants
       ("quadrants"), or 1x1 + 2x2 + 4x4 cells ("pyramid"); cells are split on the grid of
       descriptor positions.

    Steps 5 and 6 run fused in one numba pass per row of the distance block, in place.

    Parameters
    ----------
    descriptor : {"patches", "hog", "sift"}, default="patches"
        Raw pixel patches; dense HOG (cells of ``stride`` x ``stride`` pixels, 9 unsigned
        orientations, each descriptor the ``patch_size // stride`` square block of cells, one
        per cell position); or SIFT (keypoints of diameter ``patch_size`` every ``stride``
        pixels, on grey images, for larger images).
    patch_size : int, default=6
        Width in pixels of the square window of a descriptor.
    stride : int, default=1
        Pixels between neighbouring descriptors.
    normalize_patches : bool, default=True
        Step 2.
    contrast_eps : float, default=100
        Added to the variance of each patch in step 2, in [0, 255] pixel units: patches of
        lower contrast (standard deviation below about ``sqrt(contrast_eps)`` grey levels)
        are damped rather than stretched to unit variance. Coates used 10 on lossless
        CIFAR-10; in JPEG images the flat patches hold mostly compression noise: on the JPEG
        CIFAR-10 training split (inner 40,000 / 5,000 split, L2-SVM) 10, 40, 100 and 300
        scored 75.0, 75.3, 75.6 and 75.0 %.
    whiten : bool, default=True
        Step 3.
    whiten_eps : float, default=0.5
        Regulariser added to the covariance eigenvalues in step 3, in the units of the
        normalised descriptors (whose values have a variance of about 1; without
        ``normalize_patches`` patches are in [0, 1] pixel units and a value about 100 times
        smaller plays the same part). Coates used 0.1 on lossless CIFAR-10; images stored as
        JPEG carry quantisation noise in their high frequencies, which whitening amplifies by
        ``1 / sqrt(l + eps)``: on the JPEG CIFAR-10 training split (inner 40,000 / 5,000
        split, triangle encoding, L2-SVM, ``contrast_eps=10``) 0.1, 0.5, 1 and 2 scored
        74.4, 74.8, 74.7 and 74.2 %; with the default ``contrast_eps`` 0.25, 0.5 and 1
        scored 74.9, 75.6 and 74.2 %.
    n_words : int, default=1600
        Size of the codebook, ``k``.
    n_training_patches : int, default=400000
        Descriptors drawn uniformly at random (with replacement) from all positions of all
        training images to learn whitening and codebook; all of them are used when the images
        have fewer.
    init : {"k-means++", "random"}, default="k-means++"
        Step 4's start: k-means++ seeding, or ``n_words`` descriptors drawn at random (as
        Coates et al.).
    encoding : {"triangle", "hard", "soft", "vlad"}, default="triangle"
        Step 5. "vlad" makes ``k * d`` features per cell: use it with few words.
    pooling : {"quadrants", "global", "pyramid"}, default="quadrants"
        Step 6.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of training descriptors and k-means.
    size : tuple of (int, int) or None, default=None
        Resize every image to (rows, cols) first.
    chunk_size : int or None, default=None
        Images converted per chunk (None: about 2**20 pixel values); inside a chunk, distances
        are computed in blocks of about 2**23 values.

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of one image as the extractor sees it.
    n_features_out_ : int
        ``n_cells * n_words`` (``n_cells * n_words * d`` for "vlad"); 4 cells for "quadrants",
        1 for "global", 21 for "pyramid".
    descriptor_mean_ : ndarray of shape (d,) or None
        Mean of the normalised training descriptors (whitening only).
    whitening_ : ndarray of shape (d, d) or None
        The ZCA matrix ``W``.
    codebook_ : ndarray of shape (n_words, d), float32
        The visual words, in the whitened space.
    sigma_ : float or None
        Bandwidth of the soft encoding: the median distance of the training descriptors to
        their nearest word.

    See Also
    --------
    features.HOG : hand-made gradient features.

    Notes
    -----
    Deviations from Coates et al.: the codebook is learned with mini-batch k-means
    (k-means++ initialisation, 20 passes over the descriptors) rather than 10 iterations of
    batch k-means from random words; variances are unbiased as in their MATLAB code. The
    quadrant split of 27 positions is 14 + 13, as theirs. Whitening and distances are
    float32: words whose distances differ by less than float32 rounding may swap places in
    "hard" and "vlad" assignments compared with a float64 computation.

    SIFT descriptors come from OpenCV, one call per image (a dense grid of keypoints per
    call); patches and HOG are computed for whole chunks.

    References
    ----------
    .. [1] A. Coates, H. Lee, A. Y. Ng, "An Analysis of Single-Layer Networks in
       Unsupervised Feature Learning", AISTATS 2011, PMLR 15:215-223.
    .. [2] J. C. van Gemert, J.-M. Geusebroek, C. J. Veenman, A. W. M. Smeulders, "Kernel
       Codebooks for Scene Categorization", ECCV 2008, :doi:`10.1007/978-3-540-88690-7_52`.
    .. [3] H. Jegou, M. Douze, C. Schmid, P. Perez, "Aggregating local descriptors into a
       compact image representation", CVPR 2010, :doi:`10.1109/CVPR.2010.5540039`.

    Examples
    --------
    >>> import numpy as np
    >>> from features import BagOfVisualWords
    >>> images = np.random.default_rng(0).integers(0, 256, (20, 12, 12, 3), dtype=np.uint8)
    >>> bovw = BagOfVisualWords(n_words=16, n_training_patches=500, random_state=0)
    >>> bovw.fit_transform(images).shape
    (20, 64)
    """

    _parameter_constraints: dict = {
        **BaseImageTransformer._parameter_constraints,
        "descriptor": [StrOptions({"patches", "hog", "sift"})],
        "patch_size": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "normalize_patches": ["boolean"],
        "contrast_eps": [Interval(Real, 0, None, closed="left")],
        "whiten": ["boolean"],
        "whiten_eps": [Interval(Real, 0, None, closed="left")],
        "n_words": [Interval(Integral, 1, None, closed="left")],
        "n_training_patches": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"})],
        "encoding": [StrOptions({"triangle", "hard", "soft", "vlad"})],
        "pooling": [StrOptions({"quadrants", "global", "pyramid"})],
        "random_state": ["random_state"],
    }
    _input_dtype = "float32"

    def __init__(
        self,
        *,
        descriptor="patches",
        patch_size=6,
        stride=1,
        normalize_patches=True,
        contrast_eps=100.0,
        whiten=True,
        whiten_eps=0.5,
        n_words=1600,
        n_training_patches=400_000,
        init="k-means++",
        encoding="triangle",
        pooling="quadrants",
        random_state=None,
        size=None,
        chunk_size=None,
    ):
        self.descriptor = descriptor
        self.patch_size = patch_size
        self.stride = stride
        self.normalize_patches = normalize_patches
        self.contrast_eps = contrast_eps
        self.whiten = whiten
        self.whiten_eps = whiten_eps
        self.n_words = n_words
        self.n_training_patches = n_training_patches
        self.init = init
        self.encoding = encoding
        self.pooling = pooling
        self.random_state = random_state
        self.size = size
        self.chunk_size = chunk_size

    # -- hooks ---------------------------------------------------------------------------
    def _channel_mode(self):
        return "grey" if self.descriptor == "sift" else "any"

    def _min_image_shape(self):
        return (self.patch_size, self.patch_size), f"patch_size={self.patch_size}"

    def _grid(self):
        if self.descriptor == "hog":
            cells = (self.image_shape_[0] // self.stride, self.image_shape_[1] // self.stride)
            side = self.patch_size // self.stride
            return cells[0] - side + 1, cells[1] - side + 1
        return patch_grid(self.image_shape_, self.patch_size, self.stride)

    def _descriptors(self, images, out=None):
        """Steps 1-2 for a converted chunk: float32 array (m * n_positions, d).

        Patches are written into ``out`` when it is given (a buffer of that shape).
        """
        if self.descriptor == "patches":
            grid_rows, grid_cols = self._grid()
            batch = images if images.ndim == 4 else images[..., None]
            batch = np.ascontiguousarray(batch, dtype=np.float32)
            if out is None:
                length = self.patch_size**2 * batch.shape[3]
                out = np.empty((len(batch) * grid_rows * grid_cols, length), dtype=np.float32)
            kernels.extract_patches_normalized(
                batch,
                self.patch_size,
                self.stride,
                np.float32(self.contrast_eps / 255**2),
                self.normalize_patches,
                out,
            )
            return out
        if self.descriptor == "hog":
            found = hog_descriptors(images, self.patch_size // self.stride, self.stride)
        else:
            grey = np.rint(images * np.float32(255)).astype(np.uint8)
            found = sift_descriptors(grey, self.patch_size, self.stride)
        found = found.reshape(-1, found.shape[-1]).astype(np.float32, copy=False)
        return _l2_normalize(found) if self.normalize_patches else found

    def _whiten(self, x, out=None):
        """Step 3 on float32 descriptors (n, d), into ``out`` when given."""
        if not self.whiten:
            return x
        out = np.matmul(x, self.whitening_.astype(np.float32), out=out)
        out -= (self.descriptor_mean_ @ self.whitening_).astype(np.float32)
        return out

    def _check_params(self):
        if self.descriptor == "hog" and self.patch_size < self.stride:
            raise ValueError(
                f"BagOfVisualWords with descriptor='hog' uses cells of stride x stride pixels "
                f"and blocks of patch_size // stride cells: patch_size={self.patch_size} must "
                f"be >= stride={self.stride}."
            )

    def _fit_images(self, batch, y):
        self._check_params()
        rng = check_random_state(self.random_state)
        n_positions = int(np.prod(self._grid()))
        n_total = len(batch) * n_positions
        if self.n_training_patches >= n_total:
            picks = np.arange(n_total)
        else:
            picks = np.sort(rng.randint(0, n_total, size=self.n_training_patches))
        if len(picks) < self.n_words:
            raise ValueError(
                f"BagOfVisualWords needs at least n_words={self.n_words} training descriptors; "
                f"the {len(batch)} images have {n_total} positions."
            )
        # Steps 1-2 on the images that hold picked positions, a block of images at a time.
        step = max(1, _FIT_BLOCK_VALUES // (n_positions * self._descriptor_length()))
        samples = []
        for start in range(0, len(batch), step):
            lo, hi = np.searchsorted(picks, [start * n_positions, (start + step) * n_positions])
            if lo == hi:
                continue
            descriptors = self._descriptors(self._prepare(batch[start : start + step]))
            samples.append(descriptors[picks[lo:hi] - start * n_positions])
        samples = np.concatenate(samples)
        # Step 3.
        self.descriptor_mean_, self.whitening_ = None, None
        if self.whiten:
            self.descriptor_mean_, self.whitening_ = fit_whitening(samples, self.whiten_eps)
            samples = self._whiten(samples)
        # Step 4.
        kmeans = MiniBatchKMeans(
            n_clusters=self.n_words,
            batch_size=_KMEANS_BATCH,
            max_iter=_KMEANS_EPOCHS,
            max_no_improvement=None,
            init=self.init,
            n_init=1,
            random_state=rng,
        ).fit(samples)
        self.codebook_ = np.ascontiguousarray(kmeans.cluster_centers_, dtype=np.float32)
        self.sigma_ = None
        if self.encoding == "soft":
            subset = samples[rng.permutation(len(samples))[:_SIGMA_SAMPLES]]
            nearest = squared_distances(subset, self.codebook_).min(axis=1)
            self.sigma_ = float(max(np.sqrt(np.median(nearest)), _NORM_EPS))

    def _descriptor_length(self):
        if self.descriptor == "patches":
            channels = 3 if len(self.image_shape_) == 3 else 1
            return self.patch_size**2 * channels
        if self.descriptor == "hog":
            return (self.patch_size // self.stride) ** 2 * _HOG_ORIENTATIONS
        return _SIFT_LENGTH

    def _cells(self):
        grids = _POOLING_GRIDS[self.pooling]
        return grids, max(grids), sum(g * g for g in grids)

    def _n_output_features(self):
        per_cell = self.n_words * (self._descriptor_length() if self.encoding == "vlad" else 1)
        return self._cells()[2] * per_cell

    def _feature_names(self):
        grids = self._cells()[0]
        words = [f"w{j}" for j in range(self.n_words)]
        if self.encoding == "vlad":
            dims = range(self._descriptor_length())
            words = [f"{w}_d{t}" for w in words for t in dims]
        return [
            f"g{g}_r{r}_c{c}_{w}" for g in grids for r in range(g) for c in range(g) for w in words
        ]

    def _transform_batch(self, images):
        check_is_fitted(self, "codebook_")
        grids, side, _ = self._cells()
        grid = self._grid()
        cells = pooling_cells(grid, side)
        n_positions = len(cells)
        k, d = self.codebook_.shape
        shape = (len(images), side * side, k) + ((d,) if self.encoding == "vlad" else ())
        fine = np.zeros(shape, dtype=np.float32)
        terms = _codebook_terms(self.codebook_)
        # Buffers reused by every block: descriptors, whitened descriptors, distances.
        step = max(1, _BLOCK_VALUES // (n_positions * k))
        rows = min(step, len(images)) * n_positions
        patches, white = np.empty((2, rows, d), dtype=np.float32)
        dots = np.empty((rows, k), dtype=np.float32)
        for start in range(0, len(images), step):
            block = images[start : start + step]
            n = len(block) * n_positions
            x = self._whiten(self._descriptors(block, out=patches[:n]), out=white[:n])
            _encode_pool_block(
                x,
                self.codebook_,
                terms,
                self.encoding,
                cells,
                self.sigma_,
                dots[:n],
                fine[start : start + step],
            )
        return _pool_levels(fine, side, grids)
