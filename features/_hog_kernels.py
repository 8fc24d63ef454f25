"""numba kernels of :mod:`features.hog`: whole chunks of images per call, no Python loops.

Three stages, each a kernel over the whole chunk:

* :func:`cell_histograms_lut` - uint8 images: gradient, per-pixel dominant channel, orientation
  bin and cell histogram in one pass. The two gradients of a uint8 image are integers in
  [-255, 255], so the magnitude and the orientation bin of every possible pair come from two
  tables of 511 x 511 entries that :mod:`features.hog` builds with scikit-image's own formulas.
* :func:`cell_histograms_float` - any other input: magnitude and orientation are computed by
  NumPy (exactly scikit-image's expressions); the kernel bins and accumulates.
* :func:`normalize_blocks` - block normalisation of the cell histograms into the output rows.

The cell histograms reproduce scikit-image's ``_hoghistogram.pyx`` bit for bit: each bin sums
the magnitudes of its pixels in row-major order into a float32 accumulator (the sum is done in
float64 and rounded to float32 after every addition, as C does for ``float total``), and the
sum is divided by the cell area in float32.
"""

import numpy as np
from numba import njit

# Codes of the block normalisations; features.hog maps the names to these.
L1, L1_SQRT, L2, L2_HYS = 0, 1, 2, 3
EPS = 1e-5


@njit(cache=True, nogil=True)
def _row_gradients(plane, r, used_cols, g_row, g_col):
    """Integer gradients of the first ``used_cols`` pixels of row ``r`` of a uint8 plane,
    0 on the border rows (``g_row``) and cols (``g_col``)."""
    rows, cols = plane.shape
    if 0 < r < rows - 1:
        for c in range(used_cols):
            g_row[c] = np.int32(plane[r + 1, c]) - np.int32(plane[r - 1, c])
    else:
        g_row[:used_cols] = 0
    g_col[0] = 0
    for c in range(1, min(used_cols, cols - 1)):
        g_col[c] = np.int32(plane[r, c + 1]) - np.int32(plane[r, c - 1])
    if used_cols == cols:
        g_col[cols - 1] = 0


@njit(cache=True, nogil=True)
def cell_histograms_lut(
    planes, mag_lut, bin_lut, tied_sums, cell_rows, cell_cols, orientations, hist
):
    """Cell histograms of uint8 images through the gradient tables.

    Parameters
    ----------
    planes : uint8 array (m, channels, rows, cols), C-contiguous
        The images channel by channel (one channel for grey).
    mag_lut : float64 array (511 * 511,)
        ``hypot(g_col, g_row)`` at index ``(g_row + 255) * 511 + g_col + 255``.
    bin_lut : uint8 or uint16 array (511 * 511,)
        The orientation bin at the same index; ``orientations`` means "in no bin".
    tied_sums : bool array (2 * 255**2 + 1,)
        True for the sums ``g_row**2 + g_col**2`` whose pairs do not all have the same
        table magnitude (a few dozen).
    cell_rows, cell_cols, orientations : int
    hist : float64 array (m, n_cell_rows, n_cell_cols, orientations)
        Filled with the cell means.
    """
    m, channels = planes.shape[:2]
    n_cell_rows, n_cell_cols = hist.shape[1], hist.shape[2]
    used_cols = n_cell_cols * cell_cols
    area = np.float32(cell_rows * cell_cols)
    acc = np.zeros((n_cell_cols, orientations + 1), dtype=np.float32)
    g_row = np.empty(used_cols, dtype=np.int32)
    g_col = np.empty(used_cols, dtype=np.int32)
    other_row = np.empty(used_cols, dtype=np.int32)
    other_col = np.empty(used_cols, dtype=np.int32)
    index = np.empty(used_cols, dtype=np.int32)
    tied = np.flatnonzero(tied_sums)
    first_tied_sum = tied[0] if len(tied) else len(tied_sums)
    for i in range(m):
        for cr in range(n_cell_rows):
            acc[:] = 0.0
            for r in range(cr * cell_rows, (cr + 1) * cell_rows):
                _row_gradients(planes[i, 0], r, used_cols, g_row, g_col)
                # Colour: per pixel the channel of largest magnitude, the first one on ties.
                # Integer squared norms order the table's magnitudes (larger sum, larger
                # hypot); the few sums whose pairs differ in hypot's last bit (``tied_sums``)
                # ask the table.
                for ch in range(1, channels):
                    _row_gradients(planes[i, ch], r, used_cols, other_row, other_col)
                    maybe_tied = False
                    for c in range(used_cols):  # branch-free, vectorised
                        new = other_row[c] * other_row[c] + other_col[c] * other_col[c]
                        old = g_row[c] * g_row[c] + g_col[c] * g_col[c]
                        if new > old:
                            g_row[c] = other_row[c]
                            g_col[c] = other_col[c]
                        maybe_tied |= new == old and new >= first_tied_sum
                    if maybe_tied:
                        for c in range(used_cols):
                            new = other_row[c] * other_row[c] + other_col[c] * other_col[c]
                            old = g_row[c] * g_row[c] + g_col[c] * g_col[c]
                            if (
                                new == old
                                and tied_sums[new]
                                and mag_lut[(other_row[c] + 255) * 511 + other_col[c] + 255]
                                > mag_lut[(g_row[c] + 255) * 511 + g_col[c] + 255]
                            ):
                                g_row[c] = other_row[c]
                                g_col[c] = other_col[c]
                for c in range(used_cols):
                    index[c] = (g_row[c] + 255) * 511 + g_col[c] + 255
                # Row-major votes, rounded to float32 after each addition as C's float does.
                for cc in range(n_cell_cols):
                    for c in range(cc * cell_cols, (cc + 1) * cell_cols):
                        b = bin_lut[index[c]]
                        acc[cc, b] = np.float32(np.float64(acc[cc, b]) + mag_lut[index[c]])
            for cc in range(n_cell_cols):
                for o in range(orientations):
                    hist[i, cr, cc, o] = acc[cc, o] / area


@njit(cache=True, nogil=True)
def orientation_bin(orientation, orientations, per_bin):
    """The bin ``b`` with ``per_bin * b <= orientation < per_bin * (b + 1)``, else ``orientations``.

    ``per_bin = 180.0 / orientations``; the bounds are computed as scikit-image computes them.
    """
    b = int(orientation / per_bin)
    b = min(max(b, 0), orientations)
    while b > 0 and orientation < per_bin * b:
        b -= 1
    while b < orientations and orientation >= per_bin * (b + 1):
        b += 1
    return b


@njit(cache=True, nogil=True)
def cell_histograms_float(magnitude, orientation, cell_rows, cell_cols, orientations, hist):
    """Cell histograms from per-pixel magnitude and orientation (degrees in [0, 180]).

    Parameters
    ----------
    magnitude, orientation : float64 arrays (m, rows, cols)
    cell_rows, cell_cols, orientations : int
    hist : float64 array (m, n_cell_rows, n_cell_cols, orientations)
        Filled with the cell means.
    """
    m = magnitude.shape[0]
    n_cell_rows, n_cell_cols = hist.shape[1], hist.shape[2]
    area = np.float32(cell_rows * cell_cols)
    per_bin = 180.0 / orientations
    acc = np.zeros((n_cell_cols, orientations + 1), dtype=np.float32)
    for i in range(m):
        for cr in range(n_cell_rows):
            acc[:] = 0.0
            for r in range(cr * cell_rows, (cr + 1) * cell_rows):
                for cc in range(n_cell_cols):
                    for c in range(cc * cell_cols, (cc + 1) * cell_cols):
                        b = orientation_bin(orientation[i, r, c], orientations, per_bin)
                        acc[cc, b] = np.float32(np.float64(acc[cc, b]) + magnitude[i, r, c])
            for cc in range(n_cell_cols):
                for o in range(orientations):
                    hist[i, cr, cc, o] = acc[cc, o] / area


@njit(cache=True, nogil=True)
def _sum(values, absolute):
    """Sum of |values| or of values**2 with four partial sums (so that it vectorises)."""
    n = len(values)
    s0 = s1 = s2 = s3 = 0.0
    j = 0
    if absolute:
        while j + 4 <= n:
            s0 += abs(values[j])
            s1 += abs(values[j + 1])
            s2 += abs(values[j + 2])
            s3 += abs(values[j + 3])
            j += 4
        for k in range(j, n):
            s0 += abs(values[k])
    else:
        while j + 4 <= n:
            s0 += values[j] * values[j]
            s1 += values[j + 1] * values[j + 1]
            s2 += values[j + 2] * values[j + 2]
            s3 += values[j + 3] * values[j + 3]
            j += 4
        for k in range(j, n):
            s0 += values[k] * values[k]
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, nogil=True)
def normalize_blocks(hist, block_rows, block_cols, method, out):
    """Normalise every block of cells and write the blocks of image ``i`` into ``out[i]``.

    Parameters
    ----------
    hist : float64 array (m, n_cell_rows, n_cell_cols, orientations)
    block_rows, block_cols : int
    method : int
        One of ``L1``, ``L1_SQRT``, ``L2``, ``L2_HYS``:
        ``L1``: v / (sum |v| + eps); ``L1_SQRT``: its square root;
        ``L2``: v / sqrt(sum v**2 + eps**2); ``L2_HYS``: L2, then min(v, 0.2), then L2 again.
    out : float32 or float64 array (m, n_features)
        Row ``i`` in the order (block row, block col, cell row, cell col, orientation).
    """
    m, n_cell_rows, n_cell_cols, orientations = hist.shape
    n_block_rows = n_cell_rows - block_rows + 1
    n_block_cols = n_cell_cols - block_cols + 1
    block_size = block_rows * block_cols * orientations
    block = np.empty(block_size, dtype=np.float64)
    l1 = method == L1 or method == L1_SQRT
    for i in range(m):
        k = 0
        for br in range(n_block_rows):
            for bc in range(n_block_cols):
                j = 0
                for r in range(br, br + block_rows):
                    for c in range(bc, bc + block_cols):
                        for o in range(orientations):
                            block[j] = hist[i, r, c, o]
                            j += 1
                if l1:
                    scale = 1.0 / (_sum(block, True) + EPS)
                else:
                    scale = 1.0 / np.sqrt(_sum(block, False) + EPS * EPS)
                if method == L1_SQRT:
                    for j in range(block_size):
                        block[j] = np.sqrt(block[j] * scale)
                elif method == L2_HYS:
                    for j in range(block_size):
                        block[j] = min(block[j] * scale, 0.2)
                    scale = 1.0 / np.sqrt(_sum(block, False) + EPS * EPS)
                if method != L1_SQRT:
                    for j in range(block_size):
                        block[j] *= scale
                for j in range(block_size):
                    out[i, k + j] = block[j]
                k += block_size
