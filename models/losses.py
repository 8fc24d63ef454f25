"""Classification losses on the scores ``s`` of the output layer (mean over the batch).

Every loss implements ``loss(scores, y) -> (value, grad)`` where ``y`` holds class indices
``0 .. n_classes - 1`` and ``grad = d value / d scores``. ``scores`` is overwritten by the
gradient (it is a scratch buffer of the network); pass a copy to keep it.

``softmax``
    cross-entropy of the softmax probabilities:
    ``L = -1/n sum_i log p_{i, y_i}`` with ``p_i = exp(s_i) / sum_j exp(s_ij)``;
    ``dL/ds = (p - onehot(y)) / n``.
``svm``
    the multiclass hinge (Weston & Watkins 1999, as in the lecture):
    ``L = 1/n sum_i sum_{j != y_i} max(0, s_ij - s_{i, y_i} + 1)``;
    ``dL/ds_ij = [margin_ij > 0] / n`` for ``j != y_i`` and minus the count of positive
    margins for ``j = y_i``.
``squared_hinge``
    one-vs-rest L2-SVM (the squared hinge of liblinear and scikit-learn's ``LinearSVC``, the
    classifier of Coates, Lee & Ng 2011): with ``t_ij = +1`` for ``j = y_i`` and ``-1``
    otherwise, ``L = 1/n sum_i sum_j max(0, 1 - t_ij s_ij)^2``;
    ``dL/ds_ij = -2 t_ij max(0, 1 - t_ij s_ij) / n``. Smooth, so L-BFGS suits it.
``squared_error``
    the squared error to one-hot targets (the L2 loss of the lecture's 20-line network,
    Rumelhart, Hinton & Williams 1986): with ``t_ij = 1`` for ``j = y_i`` and 0 otherwise,
    ``L = 1/n sum_i sum_j (s_ij - t_ij)^2``; ``dL/ds = 2 (s - t) / n``. No ``1/2`` in front,
    as in the lecture (whose sum over the batch is ``n`` times this mean).

``has_proba`` says whether the scores are logits of probabilities (``softmax(scores)``): the
network offers ``predict_proba`` only for such a loss.

The L2 penalty ``alpha * ||W||^2`` is added by the network, not here.

Examples
--------
>>> import numpy as np
>>> from models.losses import get
>>> value, grad = get("svm")(np.array([[3.0, 1.0, 2.5]]), np.array([0]))
>>> value, grad
(np.float64(0.5), array([[-1.,  0.,  1.]]))
"""

import numpy as np

__all__ = [
    "LOSSES",
    "MulticlassHinge",
    "OneVsRestSquaredHinge",
    "SoftmaxCrossEntropy",
    "SquaredError",
    "get",
    "softmax",
]


def softmax(scores, out=None):
    """Row-wise softmax, shifted by the row maximum (so it never overflows).

    Examples
    --------
    >>> softmax(np.array([[0.0, np.log(3.0)]]))
    array([[0.25, 0.75]])
    """
    out = np.subtract(scores, scores.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


class SoftmaxCrossEntropy:
    """Softmax cross-entropy loss; see the module docstring."""

    has_proba = True

    def __call__(self, scores, y):
        """Mean loss of ``scores`` (n, n_classes) for labels ``y`` (n,) and its gradient.

        ``scores`` is overwritten: the gradient is returned in its memory.

        Returns
        -------
        value : float
        grad : ndarray of shape (n, n_classes)
        """
        n = scores.shape[0]
        rows = np.arange(n)
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        value = (log_norm - shifted[rows, y]).mean(dtype=np.float64)
        grad = softmax(scores, out=scores)
        grad[rows, y] -= 1
        grad *= 1 / n
        return value, grad

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


class MulticlassHinge:
    """Multiclass SVM (hinge) loss with margin 1; see the module docstring."""

    has_proba = False

    def __call__(self, scores, y):
        """Mean loss of ``scores`` (n, n_classes) for labels ``y`` (n,) and its gradient.

        ``scores`` is overwritten: the gradient is returned in its memory.

        Returns
        -------
        value : float
        grad : ndarray of shape (n, n_classes)
        """
        n = scores.shape[0]
        rows = np.arange(n)
        margins = scores - scores[rows, y][:, np.newaxis]
        margins += 1
        margins[rows, y] = 0
        np.maximum(margins, 0, out=margins)
        value = margins.sum(dtype=np.float64) / n
        positive = margins > 0
        grad = scores
        np.copyto(grad, positive)
        grad[rows, y] = -positive.sum(axis=1)
        grad *= 1 / n
        return value, grad

    def __repr__(self):
        return "MulticlassHinge()"


class OneVsRestSquaredHinge:
    """One-vs-rest squared hinge (L2-SVM) with margin 1; see the module docstring."""

    has_proba = False

    def __call__(self, scores, y):
        """Mean loss of ``scores`` (n, n_classes) for labels ``y`` (n,) and its gradient.

        ``scores`` is overwritten: the gradient is returned in its memory.

        Returns
        -------
        value : float
        grad : ndarray of shape (n, n_classes)
        """
        n = scores.shape[0]
        rows = np.arange(n)
        # margins 1 - t * s, with t = -1 everywhere but +1 at the true class
        margins = np.add(scores, 1, out=scores)
        margins[rows, y] = 2 - margins[rows, y]
        np.maximum(margins, 0, out=margins)
        value = float(np.einsum("ij,ij->", margins, margins, dtype=np.float64)) / n
        grad = margins
        grad *= 2 / n
        grad[rows, y] *= -1
        return value, grad

    def __repr__(self):
        return "OneVsRestSquaredHinge()"


class SquaredError:
    """Squared error to one-hot targets; see the module docstring.

    Examples
    --------
    >>> value, grad = SquaredError()(np.array([[0.5, 0.0], [0.0, 2.0]]), np.array([0, 1]))
    >>> value  # ((0.5 - 1)^2 + (2 - 1)^2) / 2
    0.625
    >>> grad
    array([[-0.5,  0. ],
           [ 0. ,  1. ]])
    """

    has_proba = False

    def __call__(self, scores, y):
        """Mean squared error of ``scores`` to the one-hot targets of ``y``, and its gradient.

        ``scores`` is overwritten: the gradient is returned in its memory.
        """
        residual = scores
        n = residual.shape[0]
        residual[np.arange(n), y] -= 1
        value = float(np.einsum("ij,ij->", residual, residual, dtype=np.float64)) / n
        residual *= 2 / n
        return value, residual

    def __repr__(self):
        return "SquaredError()"


LOSSES = {
    "softmax": SoftmaxCrossEntropy,
    "svm": MulticlassHinge,
    "squared_hinge": OneVsRestSquaredHinge,
    "squared_error": SquaredError,
}


def get(name):
    """Return the loss called ``name`` (a key of :data:`LOSSES`).

    Examples
    --------
    >>> get("squared_error")
    SquaredError()
    """
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; expected one of {sorted(LOSSES)}.")
    return LOSSES[name]()
