"""Numba kernels of the bag of visual words: patch extraction and fused encode + pool.

Each kernel has a readable NumPy counterpart (``features.bovw.extract_patches`` and
``normalize_patches``; ``encode_reference`` and ``pool_reference`` in ``tests/_oracles.py``); the
tests compare them.

The encoders receive ``dots``, the product ``-2 X C^T`` of a block of descriptors ``X`` (one row
per descriptor, the descriptors of one image consecutive, ``n_positions`` of them per image)
with the codebook ``C``, computed by one BLAS call, and add each descriptor's code into
``out[image, cell]`` (``cell_of_position`` maps a descriptor position to its pooling cell). A
row of ``dots`` is read once from memory and worked on while it sits in the L1 cache, so the
element-wise work costs little next to the product that made it.
"""

import numpy as np
from numba import njit

_OPTIONS = {"cache": True, "nogil": True, "fastmath": True}


@njit(**_OPTIONS)
def extract_patches_normalized(images, patch_size, stride, eps, normalize, out):
    """Copy every ``patch_size`` patch at ``stride`` of ``images`` (m, rows, cols, ch) to ``out``.

    ``out`` has shape (m * grid_rows * grid_cols, patch_size * patch_size * ch), rows ordered
    (image, grid row, grid col) and values (row, col, channel). With ``normalize`` each patch
    becomes ``(x - mean) / sqrt(var + eps)`` (unbiased variance over its values; a patch of one
    value becomes 0).
    """
    m, rows, cols, channels = images.shape
    grid_rows = (rows - patch_size) // stride + 1
    grid_cols = (cols - patch_size) // stride + 1
    width = patch_size * channels
    length = patch_size * width
    i = 0
    for n in range(m):
        for r in range(grid_rows):
            for c in range(grid_cols):
                patch = out[i]
                for a in range(patch_size):
                    src = images[n, r * stride + a, c * stride : c * stride + patch_size]
                    for b in range(patch_size):
                        for ch in range(channels):
                            patch[a * width + b * channels + ch] = src[b, ch]
                if normalize:
                    total = np.float32(0.0)
                    for j in range(length):
                        total += patch[j]
                    mean = total / length
                    squares = np.float32(0.0)
                    for j in range(length):
                        patch[j] -= mean
                        squares += patch[j] * patch[j]
                    scale = np.float32(1.0) / np.sqrt(squares / max(length - 1, 1) + eps)
                    for j in range(length):
                        patch[j] *= scale
                i += 1


@njit(**_OPTIONS)
def triangle_pool(dots, x_sq, c_sq, cell_of_position, out):
    """Triangle codes ``max(0, mean(z) - z_k)``, z the distances to the words, summed per cell.

    ``dots`` is overwritten with the distances ``z``.
    """
    n_rows, k = dots.shape
    n_positions = cell_of_position.shape[0]
    zero = np.float32(0.0)
    for i in range(n_rows):
        acc = out[i // n_positions, cell_of_position[i % n_positions]]
        row = dots[i]
        xs = x_sq[i]
        total = zero
        for j in range(k):
            z = np.sqrt(max(row[j] + xs + c_sq[j], zero))
            row[j] = z
            total += z
        mean = total / k
        for j in range(k):
            acc[j] += max(mean - row[j], zero)


@njit(**_OPTIONS)
def _nearest(row, c_sq):
    """Index of the word nearest to one descriptor: argmin over j of row[j] + c_sq[j]."""
    best = 0
    best_value = row[0] + c_sq[0]
    for j in range(1, row.shape[0]):
        value = row[j] + c_sq[j]
        if value < best_value:
            best_value = value
            best = j
    return best


@njit(**_OPTIONS)
def hard_pool(dots, c_sq, cell_of_position, out):
    """One vote for the nearest word of each descriptor, counted per cell."""
    n_rows, k = dots.shape
    n_positions = cell_of_position.shape[0]
    for i in range(n_rows):
        row = dots[i]
        best = _nearest(row, c_sq)
        out[i // n_positions, cell_of_position[i % n_positions], best] += 1


@njit(**_OPTIONS)
def soft_pool(dots, x_sq, c_sq, inv_two_sigma_sq, cell_of_position, out):
    """Gaussian kernel codebook: weights ``exp(-d_k^2 / (2 sigma^2))`` normalised to sum 1.

    ``dots`` is overwritten with the weights.
    """
    n_rows, k = dots.shape
    n_positions = cell_of_position.shape[0]
    zero = np.float32(0.0)
    for i in range(n_rows):
        acc = out[i // n_positions, cell_of_position[i % n_positions]]
        row = dots[i]
        xs = x_sq[i]
        nearest = np.float32(np.inf)
        for j in range(k):
            d2 = max(row[j] + xs + c_sq[j], zero)
            row[j] = d2
            nearest = min(nearest, d2)
        total = zero
        for j in range(k):
            w = np.exp((nearest - row[j]) * inv_two_sigma_sq)
            row[j] = w
            total += w
        scale = np.float32(1.0) / total
        for j in range(k):
            acc[j] += row[j] * scale


@njit(**_OPTIONS)
def vlad_pool(dots, x, codebook, c_sq, cell_of_position, out):
    """Residuals ``x - c_k`` to the nearest word ``c_k``, summed per cell and word.

    ``out`` has shape (m, n_cells, k, n_dims).
    """
    n_rows, k = dots.shape
    n_positions = cell_of_position.shape[0]
    n_dims = x.shape[1]
    for i in range(n_rows):
        row = dots[i]
        best = _nearest(row, c_sq)
        acc = out[i // n_positions, cell_of_position[i % n_positions], best]
        for t in range(n_dims):
            acc[t] += x[i, t] - codebook[best, t]
