"""How far apart two correct float32 results may be, derived from the arithmetic.

A float32 matrix product (or any sum of ``n`` terms) is accumulated in an order that the BLAS
chooses: it blocks the reduction by the shapes of the operands and by the kernel it picked for
this CPU (``OPENBLAS_CORETYPE``). Every order is correct, and every order rounds differently.
Higham's bound (*Accuracy and Stability of Numerical Algorithms*, 2nd ed., 2002, eq. 3.5,
doi:10.1137/1.9780898718027) says that a sum of ``n`` terms computed in any order is within
``gamma_n * S`` of the exact sum, where ``S`` is the sum of the terms' magnitudes and
``gamma_n = n u / (1 - n u)``, ``u = eps / 2`` the unit round-off. Two orders may therefore
differ by ``2 gamma_n S``, which is ``n * eps * S`` to first order.

So a comparison of two float32 results that came through different blockings (a batch against
its images one by one, one chunk size against another, one CPU kernel against another) uses
:func:`float32_atol` with the length of the longest reduction behind a value and the scale of
the terms it sums. Results of code that is exact (the HOG and colour kernels, byte-identical
batch outputs for the same chunking) are compared exactly instead, with ``assert_array_equal``.
"""

import numpy as np
from numpy.testing import assert_allclose

FLOAT32_EPS = float(np.finfo(np.float32).eps)  # 2**-23: twice float32's unit round-off


def float32_atol(reduction_length, scale):
    """The largest difference two correctly rounded float32 evaluations of a sum can show.

    Parameters
    ----------
    reduction_length : int
        The number of terms summed behind one value (a matrix product's inner dimension, plus
        any sums taken of its results).
    scale : float
        The sum of the magnitudes of those terms, or a bound on it (the largest magnitude of
        the values compared, times any factor by which cancellation shrinks them).

    Returns
    -------
    atol : float
        ``reduction_length * eps32 * scale`` (``2 gamma_n S`` to first order).
    """
    return float(reduction_length) * FLOAT32_EPS * float(scale)


def bovw_atol(model, features):
    """The tolerance for two float32 evaluations of a fitted BagOfVisualWords' features.

    Every feature is a sum, over the patches of a pooling cell, of codes computed from the
    squared distances ``|x|^2 - 2 x.c + |c|^2`` of whitened descriptors ``x``: two matrix
    products (whitening, then distances) with the descriptor length as their inner dimension.
    The reduction behind a feature is therefore at most twice the descriptor length plus the
    number of patches pooled into it; the scale is that of the features.
    """
    descriptor_length = model.codebook_.shape[1]
    patches = int(np.prod(model._grid()))  # every patch of an image: a bound on one cell's
    return float32_atol(2 * descriptor_length + patches, np.abs(features).max())


def assert_float32_close(actual, desired, *, reduction_length, scale=None):
    """``assert_allclose`` with :func:`float32_atol` (scale: the largest ``|desired|``)."""
    desired = np.asarray(desired)
    scale = np.abs(desired).max() if scale is None else scale
    assert_allclose(actual, desired, rtol=0, atol=float32_atol(reduction_length, scale))
