"""Activation functions, each one small object with its forward pass and derivative.

Every activation implements

``forward(z) -> (a, cache)``
    ``a = f(z)``; ``z`` may be overwritten (it is a scratch buffer of the network).
``backward(grad_a, cache) -> grad_z``
    ``grad_z = grad_a * f'(z)``; ``grad_a`` may be overwritten and returned.

The element-wise activations keep only their output ``a`` as cache and write their derivative
in terms of ``a`` (e.g. ``sigmoid' = a (1 - a)``), so the pre-activation need not be kept.
``pieces`` is the number of linear outputs a hidden unit needs: 1, except for maxout.

Examples
--------
>>> import numpy as np
>>> from models.activations import get
>>> relu = get("relu")
>>> a, cache = relu.forward(np.array([[-1.0, 2.0]]))
>>> a
array([[0., 2.]])
>>> relu.backward(np.array([[5.0, 5.0]]), cache)
array([[0., 5.]])
"""

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "Identity",
    "LeakyReLU",
    "Maxout",
    "ReLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "get",
]


class _Elementwise:
    """An element-wise activation: a subclass writes ``_f(z)`` and ``_df(grad, a)`` side by
    side, the derivative in terms of the output ``a``."""

    pieces = 1
    he_init = False  # Glorot initialisation unless a subclass says otherwise

    def forward(self, z):
        """``a = f(z)`` and the cache for :meth:`backward` (``a`` itself).

        Parameters
        ----------
        z : ndarray
            Pre-activations; overwritten (``a`` may be ``z``'s memory).

        Returns
        -------
        a, cache : ndarray, ndarray
        """
        a = self._f(z)
        return a, a

    def backward(self, grad_a, a):
        """``grad_z = grad_a * f'(z)``, with ``f'`` written in terms of the cached output ``a``.

        ``grad_a`` is overwritten and returned.
        """
        return self._df(grad_a, a)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(_Elementwise):
    """f(z) = z, f' = 1."""

    def _f(self, z):
        return z

    def _df(self, grad, a):
        return grad


class Sigmoid(_Elementwise):
    """f(z) = 1 / (1 + exp(-z)), f' = a (1 - a)."""

    def _f(self, z):
        # tanh form: exact, no overflow for large |z|
        np.multiply(z, 0.5, out=z)
        np.tanh(z, out=z)
        z += 1
        z *= 0.5
        return z

    def _df(self, grad, a):
        grad *= a
        grad *= 1 - a
        return grad


class Tanh(_Elementwise):
    """f(z) = tanh(z), f' = 1 - a^2."""

    def _f(self, z):
        return np.tanh(z, out=z)

    def _df(self, grad, a):
        grad *= 1 - a * a
        return grad


class ReLU(_Elementwise):
    """f(z) = max(0, z), f' = [a > 0]."""

    he_init = True

    def _f(self, z):
        return np.maximum(z, 0, out=z)

    def _df(self, grad, a):
        return np.multiply(grad, a > 0, out=grad)  # (masked ufuncs are much slower)


class LeakyReLU(_Elementwise):
    """f(z) = z if z > 0 else negative_slope * z; f' = 1 or negative_slope (Maas et al. 2013).

    The default slope 0.01 is Maas et al.'s and PyTorch's; the lecture's ``max(0.2 z, z)`` is
    ``LeakyReLU(negative_slope=0.2)``.
    """

    he_init = True

    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def _f(self, z):
        return np.maximum(z, self.negative_slope * z, out=z)  # as 0 <= negative_slope < 1

    def _df(self, grad, a):
        slope = self.negative_slope
        factor = (a > 0).astype(grad.dtype)
        factor *= 1 - slope
        factor += slope
        grad *= factor
        return grad

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class ELU(_Elementwise):
    """f(z) = z if z > 0 else alpha (exp(z) - 1); f' = 1 or a + alpha (Clevert et al. 2016)."""

    he_init = True

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def _f(self, z):
        negative = np.minimum(z, 0)
        np.expm1(negative, out=negative)
        negative *= self.alpha
        np.maximum(z, 0, out=z)
        z += negative
        return z

    def _df(self, grad, a):
        positive = (a > 0).astype(grad.dtype)
        factor = a + self.alpha  # f' = a + alpha where a <= 0, 1 elsewhere
        factor -= positive * factor
        factor += positive
        grad *= factor
        return grad

    def __repr__(self):
        return f"ELU(alpha={self.alpha})"


class Softplus(_Elementwise):
    """f(z) = log(1 + exp(z)); f' = sigmoid(z) = 1 - exp(-a) (Dugas et al. 2001)."""

    he_init = True

    def _f(self, z):
        # max(z, 0) + log1p(exp(-|z|)): no overflow, and far faster than np.logaddexp
        t = np.abs(z)
        np.negative(t, out=t)
        np.exp(t, out=t)
        np.log1p(t, out=t)
        np.maximum(z, 0, out=z)
        z += t
        return z

    def _df(self, grad, a):
        factor = np.negative(a)
        np.expm1(factor, out=factor)  # -(1 - exp(-a)), exact for small a
        grad *= factor
        return np.negative(grad, out=grad)


class Maxout:
    """A unit is the max of ``pieces`` linear pieces: a = max_k z_k (Goodfellow et al. 2013).

    The layer before it has ``pieces * units`` outputs, piece by piece: columns
    ``[k * units, (k + 1) * units)`` hold piece ``k`` of every unit (so the max is ``pieces - 1``
    element-wise maxima of contiguous blocks; reductions over a short axis are slow in NumPy).
    The derivative sends each unit's gradient to the piece that won the max (the first on ties).
    """

    he_init = True

    def __init__(self, pieces=2):
        self.pieces = pieces

    def forward(self, z):
        """The max over each unit's pieces, and the index of the winning piece as cache.

        Parameters
        ----------
        z : ndarray of shape (n, pieces * units)
            Pre-activations, piece by piece (left unchanged).

        Returns
        -------
        a : ndarray of shape (n, units)
        winner : ndarray of shape (n, units), int8
        """
        blocks = z.reshape(z.shape[0], self.pieces, -1)
        a = blocks[:, 0].copy()
        winner = np.zeros(a.shape, dtype=np.int8)
        for k in range(1, self.pieces):
            better = blocks[:, k] > a
            np.maximum(a, blocks[:, k], out=a)
            winner += better * (k - winner)
        return a, winner

    def backward(self, grad_a, winner):
        """Each unit's gradient sent to its winning piece, zeros to the others:
        (n, units) -> (n, pieces * units)."""
        n, units = grad_a.shape
        grad_z = np.empty((n, self.pieces, units), dtype=grad_a.dtype)
        for k in range(self.pieces):
            np.multiply(grad_a, winner == k, out=grad_z[:, k])
        return grad_z.reshape(n, self.pieces * units)

    def __repr__(self):
        return f"Maxout(pieces={self.pieces})"


ACTIVATIONS = {
    "identity": Identity,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softplus": Softplus,
    "maxout": Maxout,
}


def get(name, **hyper):
    """Return the activation called ``name``, built with its hyper-parameters.

    Examples
    --------
    >>> get("leaky_relu", negative_slope=0.1)
    LeakyReLU(negative_slope=0.1)
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name](**hyper)
