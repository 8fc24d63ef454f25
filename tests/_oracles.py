"""Reference oracles: plain-NumPy versions of the library's fast kernels, for the tests only.

Each function computes the same numbers as a numba kernel of ``features`` in the most readable
way NumPy allows (float64, whole arrays, no fusion), so that the tests can compare the two on
many inputs. They live here, not in the library, because nothing but the tests calls them.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from features.bovw import pooling_cells, squared_distances
from features.color import _check_normalize, _histogram_layout
from features.hog import (
    _EPS,
    _check_block_params,
    _magnitude_orientation,
    _n_cells,
    _orientation_bins,
)


# -- HOG ----------------------------------------------------------------------------------------
def _normalize_reference(blocks, block_norm):
    """Normalise blocks (..., block_rows, block_cols, orientations) over their last 3 axes."""
    axes = (-3, -2, -1)
    if block_norm in ("L1", "L1-sqrt"):
        out = blocks / (np.abs(blocks).sum(axis=axes, keepdims=True) + _EPS)
        return np.sqrt(out) if block_norm == "L1-sqrt" else out
    out = blocks / np.sqrt((blocks**2).sum(axis=axes, keepdims=True) + _EPS**2)
    if block_norm == "L2-Hys":
        out = np.minimum(out, 0.2)
        out = out / np.sqrt((out**2).sum(axis=axes, keepdims=True) + _EPS**2)
    return out


def hog_features_reference(
    images,
    *,
    orientations=9,
    pixels_per_cell=(8, 8),
    cells_per_block=(3, 3),
    block_norm="L2-Hys",
    transform_sqrt=False,
):
    """Plain-NumPy HOG of a batch: the readable reference of :func:`hog_features`.

    Same parameters and steps as :func:`hog_features`; float64 output. Memory grows with
    ``n * rows * cols * orientations``, so use it on small batches (tests, checks).

    """
    images, orientations, (cell_rows, cell_cols), (block_rows, block_cols) = _check_block_params(
        images,
        orientations,
        pixels_per_cell,
        cells_per_block,
        block_norm,
        "hog_features_reference",
    )
    n = len(images)
    # Steps 1-2: square root, gradients, dominant channel; magnitude and orientation.
    magnitude, orientation = _magnitude_orientation(images, transform_sqrt)
    # Step 3: vote each pixel's magnitude into its bin, average over each cell.
    bins = _orientation_bins(orientation, orientations)
    votes = magnitude[..., None] * (bins[..., None] == np.arange(orientations))
    n_cell_rows, n_cell_cols = _n_cells(images.shape[1:3], (cell_rows, cell_cols))
    votes = votes[:, : n_cell_rows * cell_rows, : n_cell_cols * cell_cols]
    votes = votes.reshape(n, n_cell_rows, cell_rows, n_cell_cols, cell_cols, orientations)
    hist = votes.sum(axis=(2, 4)) / (cell_rows * cell_cols)
    # Step 4: blocks of cells at a stride of one cell, each normalised on its own.
    blocks = sliding_window_view(hist, (block_rows, block_cols), axis=(1, 2))
    blocks = blocks.transpose(0, 1, 2, 4, 5, 3)  # (n, block row, block col, row, col, bin)
    # Step 5: flatten in (block row, block col, cell row, cell col, bin) order.
    return _normalize_reference(blocks, block_norm).reshape(n, -1)


# -- colour histograms ---------------------------------------------------------------------
def _normalize(counts, n_cells, normalize):
    """Divide each cell's counts (all its bins) by their l1 or l2 norm, as the kernel does.

    The norm is computed exactly in float64 (counts are integers), rounded to float32, and the
    division is done in float32, so that both implementations give the same bits.
    """
    if normalize is None:
        return counts.astype(np.float32)
    cells = counts.reshape(len(counts), n_cells, -1).astype(np.float64)
    if normalize == "l1":
        norms = cells.sum(axis=2, keepdims=True)
    else:
        norms = np.sqrt((cells * cells).sum(axis=2, keepdims=True))
    # every cell has at least one pixel, so no norm is zero
    scaled = cells.astype(np.float32) / norms.astype(np.float32)
    return scaled.reshape(counts.shape)


def color_histogram_reference(images, *, bins, ranges, mode="joint", grid=(1, 1), normalize=None):
    """Readable NumPy version of :func:`color_histogram`: same parameters, same result.

    Each pixel's feature index is ``image * n_features + cell offset + bin position`` (summed
    over channels when joint, one per channel when marginal); one ``np.bincount`` counts them.
    """
    _check_normalize(normalize)
    pixels, tables, cells, per_cell = _histogram_layout(images, bins, ranges, mode, grid)
    m, _, _, channels = pixels.shape
    n_cells = grid[0] * grid[1]
    n_features = n_cells * per_cell
    # 1. bin position of every pixel and channel, via the lookup tables
    positions = np.stack([tables[c][pixels[..., c]] for c in range(channels)], axis=-1)
    if mode == "joint":
        positions = positions.sum(axis=-1, keepdims=True)
    # 2. plus the offsets of the pixel's cell and image
    image_offsets = (np.arange(m) * n_features)[:, None, None, None]
    index = positions + cells[None, :, :, None] + image_offsets
    # 3. one count for the whole chunk
    counts = np.bincount(index.ravel(), minlength=m * n_features).reshape(m, n_features)
    # 4. per-cell normalisation
    return _normalize(counts, n_cells, normalize)


# -- bag of visual words -------------------------------------------------------------------
def encode_reference(x, codebook, encoding, sigma=None):
    """The code of every descriptor (NumPy reference of the fused kernels).

    Parameters
    ----------
    x : ndarray of shape (n, d)
        Descriptors (after normalisation and whitening).
    codebook : ndarray of shape (k, d)
    encoding : {"hard", "soft", "triangle", "vlad"}
    sigma : float
        Bandwidth of the soft encoding.

    Returns
    -------
    codes : ndarray of shape (n, k), or (n, k, d) for "vlad"

    """
    d2 = squared_distances(x, codebook)
    if encoding == "triangle":
        z = np.sqrt(d2)
        return np.maximum(z.mean(axis=1, keepdims=True) - z, 0.0)
    if encoding == "soft":
        w = np.exp(-(d2 - d2.min(axis=1, keepdims=True)) / (2.0 * sigma**2))
        return w / w.sum(axis=1, keepdims=True)
    nearest = d2.argmin(axis=1)
    if encoding == "hard":
        return np.eye(len(codebook), dtype=x.dtype)[nearest]
    codes = np.zeros((len(x), *codebook.shape), dtype=x.dtype)
    codes[np.arange(len(x)), nearest] = x - codebook[nearest]
    return codes


def pool_reference(codes, grids):
    """Sum the codes of a (m, grid_rows, grid_cols, ...) array over the cells of each grid.

    Returns (m, n_features): for each grid side ``g`` in ``grids``, the ``g x g`` cell sums
    (row-major), each cell holding the code's values in order. NumPy reference of the pooling.
    """
    m, grid_rows, grid_cols = codes.shape[:3]
    flat = codes.reshape(m, grid_rows * grid_cols, -1)
    parts = []
    for side in grids:
        cells = pooling_cells((grid_rows, grid_cols), side)
        pooled = np.zeros((m, side * side, flat.shape[2]), dtype=np.float64)
        for cell in range(side * side):
            pooled[:, cell] = flat[:, cells == cell].sum(axis=1)
        parts.append(pooled.reshape(m, -1))
    return np.concatenate(parts, axis=1)
