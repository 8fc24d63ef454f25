"""First-order optimisers as small classes with one interface, and L-BFGS through SciPy.

``opt.step(params, grads, lr_mult=1.0)`` updates every array of ``params`` in place from the
matching array of ``grads``; the optimiser keeps its state (velocities, moments, step count)
per parameter, created at the first step. ``lr_mult`` is the schedule's multiplier ``eta_t``
(see :mod:`models.schedules`): it scales the learning rate (and, for SGDW and AdamW, the
decoupled weight decay).

The defaults are PyTorch's (``eps=1e-8``); the lecture's AdaGrad and RMSProp code adds
``1e-7`` to the denominator: ``get("adagrad", eps=1e-7)``. L-BFGS (``full_batch = True``) has
no ``step``: it minimises a full-batch loss with ``minimize``.

Each update is one fused pass over memory (a small Numba kernel per rule), so that a step
costs little more than reading the arrays once; the kernels compute in the dtype of the
parameters (float32 arithmetic vectorises twice as wide as float64). Parameters must be
C-contiguous arrays (they are updated through flat views).

Examples
--------
>>> import numpy as np
>>> from models.optimizers import get
>>> w = np.array([1.0, -2.0])
>>> opt = get("momentum", learning_rate=0.1)
>>> opt.step([w], [np.array([1.0, 1.0])])
>>> opt.step([w], [np.array([1.0, 1.0])])
>>> w  # v = 1, then v = 0.9 + 1 = 1.9: w -= 0.1 * (1 + 1.9)
array([ 0.71, -2.29])
"""

import numpy as np
import scipy.optimize
from numba import njit
from threadpoolctl import ThreadpoolController

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "LBFGS",
    "AdaGrad",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "SGDW",
    "RMSProp",
    "get",
]


# ---------------------------------------------------------------- fused kernels (flat arrays)
# Scalars arrive in the arrays' dtype (see _typed), so float32 arrays are updated with float32
# arithmetic. error_model="numpy" drops Python's zero-division check, which would keep LLVM from
# vectorising the loops; "arcp" and "contract" allow x / y -> x * (1 / y) and fused multiply-add
# (a rounding difference of an ulp or so, nothing else).
_kernel = njit(cache=True, nogil=True, error_model="numpy", fastmath={"arcp", "contract"})


@_kernel
def _sgd_kernel(w, g, lr):
    for i in range(w.size):
        w[i] -= lr * g[i]


@_kernel
def _momentum_kernel(w, g, v, lr, mu, nesterov):
    for i in range(w.size):
        vi = mu * v[i] + g[i]
        v[i] = vi
        w[i] -= lr * (g[i] + mu * vi) if nesterov else lr * vi


@_kernel
def _sgdw_kernel(w, g, m, lr, mu, decay):
    for i in range(w.size):
        mi = mu * m[i] + lr * g[i]
        m[i] = mi
        w[i] -= mi + decay * w[i]


@_kernel
def _adagrad_kernel(w, g, s, lr, eps):
    for i in range(w.size):
        gi = g[i]
        si = s[i] + gi * gi
        s[i] = si
        w[i] -= lr * gi / (np.sqrt(si) + eps)


@_kernel
def _rmsprop_kernel(w, g, s, lr, rho, one_minus_rho, eps):
    for i in range(w.size):
        gi = g[i]
        si = rho * s[i] + one_minus_rho * (gi * gi)
        s[i] = si
        w[i] -= lr * gi / (np.sqrt(si) + eps)


@_kernel
def _adam_kernel(
    w, g, m, v, lr, b1, one_minus_b1, b2, one_minus_b2, eps, inv_bias1, inv_bias2, decay
):
    for i in range(w.size):
        gi = g[i]
        mi = b1 * m[i] + one_minus_b1 * gi
        vi = b2 * v[i] + one_minus_b2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        w[i] -= lr * (mi * inv_bias1) / (np.sqrt(vi * inv_bias2) + eps) + decay * w[i]


def _typed(array, *scalars):
    """``scalars`` converted to the dtype of ``array``."""
    return tuple(array.dtype.type(x) for x in scalars)


def _flat(a):
    """A flat view of ``a`` (never a copy: the kernels update it in place)."""
    if not a.flags.c_contiguous:
        raise ValueError(
            f"Optimisers update C-contiguous arrays in place; got a non-contiguous array of "
            f"shape {a.shape}."
        )
    return a.reshape(-1)


class _Optimizer:
    """The interface: :meth:`step`; a subclass writes ``_update(params, grads, state, lr_mult)``
    and says in ``_n_state`` how many state arrays each parameter needs."""

    full_batch = False
    _n_state = 0

    def step(self, params, grads, lr_mult=1.0):
        """Update every array of ``params`` in place from the matching array of ``grads``.

        Parameters
        ----------
        params : list of ndarray
            C-contiguous float arrays, updated in place. Always pass the same arrays in the
            same order: the optimiser's state (``state_``, made at the first step) is kept
            per position.
        grads : list of ndarray
            Gradients, one per parameter, of the same shapes and dtypes.
        lr_mult : float, default=1.0
            The schedule's multiplier ``eta_t`` of this step.

        Examples
        --------
        >>> import numpy as np
        >>> w = np.array([1.0, 2.0])
        >>> SGD(learning_rate=0.5).step([w], [np.array([1.0, -1.0])], lr_mult=0.5)
        >>> w
        array([0.75, 2.25])
        """
        if getattr(self, "state_", None) is None:
            self.state_ = [[np.zeros_like(p) for _ in range(self._n_state)] for p in params]
            self.t_ = 0
        self.t_ += 1
        self._update(params, grads, self.state_, lr_mult)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------- the optimisers
class SGD(_Optimizer):
    """Stochastic gradient descent (Robbins & Monro 1951): ``w -= learning_rate * g``."""

    def __init__(self, learning_rate=1e-3):
        self.learning_rate = learning_rate

    def _update(self, params, grads, state, lr_mult):
        for w, g in zip(params, grads):
            _sgd_kernel(_flat(w), _flat(g), *_typed(w, self.learning_rate * lr_mult))


class Momentum(_Optimizer):
    """SGD with momentum (Polyak 1964; Sutskever et al. 2013)::

    v = momentum * v + g
    w -= learning_rate * v
    """

    _nesterov = False
    _n_state = 1

    def __init__(self, learning_rate=1e-3, momentum=0.9):
        self.learning_rate = learning_rate
        self.momentum = momentum

    def _update(self, params, grads, state, lr_mult):
        lr = self.learning_rate * lr_mult
        for w, g, (v,) in zip(params, grads, state):
            _momentum_kernel(
                _flat(w), _flat(g), _flat(v), *_typed(w, lr, self.momentum), self._nesterov
            )


class Nesterov(Momentum):
    """Nesterov accelerated gradient (Nesterov 1983; Sutskever et al. 2013), as PyTorch's
    ``nesterov=True``, with the gradient ``g`` taken at the stored parameters::

        v = momentum * v + g
        w -= learning_rate * (g + momentum * v)

    The stored parameters are the look-ahead point of the lecture's form
    ``v' = mu v' - lr grad(x + mu v'); x += v'``: after every step ``w = x + mu v'`` (with
    ``v = -v' / lr``), so the gradient at ``w`` is the lecture's look-ahead gradient and the
    update above is the lecture's update rewritten in ``w``.
    """

    _nesterov = True


class SGDW(_Optimizer):
    """SGD with momentum and decoupled weight decay (Loshchilov & Hutter 2019, Algorithm 1,
    SGDW), with ``eta_t`` the schedule multiplier ``lr_mult``::

        m = momentum * m + eta_t * learning_rate * g
        w -= m + eta_t * weight_decay * w

    As in the paper the decay is not multiplied by ``learning_rate`` and not fed through the
    momentum. Without momentum it is SGD on the L2-penalised loss: the penalty
    ``alpha * ||w||^2`` (gradient ``2 alpha w``) gives the same steps with
    ``weight_decay = 2 * alpha * learning_rate`` (the paper's Proposition 1). With a constant
    ``eta_t`` and no decay it is :class:`Momentum` (``m = learning_rate * v``). Every array
    handed to ``step`` is decayed.
    """

    _n_state = 1

    def __init__(self, learning_rate=1e-3, momentum=0.9, weight_decay=1e-5):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay

    def _update(self, params, grads, state, lr_mult):
        lr, decay = self.learning_rate * lr_mult, self.weight_decay * lr_mult
        for w, g, (m,) in zip(params, grads, state):
            _sgdw_kernel(_flat(w), _flat(g), _flat(m), *_typed(w, lr, self.momentum, decay))


class AdaGrad(_Optimizer):
    """AdaGrad (Duchi, Hazan & Singer 2011)::

    s += g * g
    w -= learning_rate * g / (sqrt(s) + eps)
    """

    _n_state = 1

    def __init__(self, learning_rate=1e-3, eps=1e-8):
        self.learning_rate = learning_rate
        self.eps = eps

    def _update(self, params, grads, state, lr_mult):
        lr = self.learning_rate * lr_mult
        for w, g, (s,) in zip(params, grads, state):
            _adagrad_kernel(_flat(w), _flat(g), _flat(s), *_typed(w, lr, self.eps))


class RMSProp(_Optimizer):
    """RMSProp (Tieleman & Hinton 2012, lecture 6.5)::

    s = decay_rate * s + (1 - decay_rate) * g * g
    w -= learning_rate * g / (sqrt(s) + eps)
    """

    _n_state = 1

    def __init__(self, learning_rate=1e-3, decay_rate=0.99, eps=1e-8):
        self.learning_rate = learning_rate
        self.decay_rate = decay_rate
        self.eps = eps

    def _update(self, params, grads, state, lr_mult):
        lr = self.learning_rate * lr_mult
        for w, g, (s,) in zip(params, grads, state):
            rho = self.decay_rate
            _rmsprop_kernel(_flat(w), _flat(g), _flat(s), *_typed(w, lr, rho, 1 - rho, self.eps))


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), at step ``t = 1, 2, ...``::

    m = beta1 * m + (1 - beta1) * g            m_hat = m / (1 - beta1 ** t)
    v = beta2 * v + (1 - beta2) * g * g        v_hat = v / (1 - beta2 ** t)
    w -= learning_rate * m_hat / (sqrt(v_hat) + eps)

    The bias corrections make the first step ``learning_rate * g / (|g| + eps)``, which is
    ``learning_rate * sign(g)`` for gradients much larger than ``eps``.
    """

    _n_state = 2

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def _update(self, params, grads, state, lr_mult):
        b1, b2, t = self.beta1, self.beta2, self.t_
        lr, decay = self.learning_rate * lr_mult, getattr(self, "weight_decay", 0.0) * lr_mult
        for w, g, (m, v) in zip(params, grads, state):
            scalars = _typed(
                w, lr, b1, 1 - b1, b2, 1 - b2, self.eps, 1 / (1 - b1**t), 1 / (1 - b2**t), decay
            )
            _adam_kernel(_flat(w), _flat(g), _flat(m), _flat(v), *scalars)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, Algorithm 2)::

        (m, v, m_hat, v_hat as in Adam)
        w -= eta_t * (learning_rate * m_hat / (sqrt(v_hat) + eps) + weight_decay * w)

    ``eta_t`` is the schedule multiplier ``lr_mult`` (1 without a schedule). The decay is
    not multiplied by ``learning_rate``, as in the paper; PyTorch's ``AdamW`` multiplies it
    (``w -= lr * weight_decay * w``), so PyTorch's ``weight_decay=0.01`` at ``lr=1e-3`` is
    ``weight_decay=1e-5`` here. Every array handed to ``step`` is decayed.
    """

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-5):
        super().__init__(learning_rate, beta1, beta2, eps)
        self.weight_decay = weight_decay


class LBFGS:
    """Full-batch L-BFGS (Liu & Nocedal 1989) through ``scipy.optimize.minimize``
    (``method="L-BFGS-B"``, no bounds) on the parameters flattened into one float64 vector.

    ``minimize(params, loss_and_grads)`` runs it: ``loss_and_grads(params) -> (value, grads)``
    evaluates the full-batch loss; ``params`` hold the solution afterwards. It has no ``step``:
    it cannot be used on mini-batches (nor with ``partial_fit``). ``max_iter``, ``tol``
    (SciPy's ``gtol``), ``max_fun`` and ``ftol`` are SciPy's options; ``ftol=0`` leaves the
    stopping to the gradient test alone.
    """

    full_batch = True

    def __init__(self, max_iter=200, tol=1e-4, max_fun=15000, ftol=2.220446049250313e-09):
        self.max_iter = max_iter
        self.tol = tol
        self.max_fun = max_fun
        self.ftol = ftol

    def minimize(self, params, loss_and_grads, callback=None):
        """Minimise ``loss_and_grads`` over ``params``, which hold the solution afterwards.

        Parameters
        ----------
        params : list of ndarray
            The starting point, overwritten with the solution (computed in float64).
        loss_and_grads : callable
            ``loss_and_grads(params) -> (value, grads)``, evaluated at ``params``.
        callback : callable, default=None
            Called by SciPy after each iteration with ``intermediate_result``.

        Returns
        -------
        result : scipy.optimize.OptimizeResult

        Examples
        --------
        >>> import numpy as np
        >>> w = np.zeros(2)
        >>> result = LBFGS().minimize([w], lambda ps: (((ps[0] - 3) ** 2).sum(), [2 * (ps[0] - 3)]))
        >>> np.round(w, 6)
        array([3., 3.])
        """
        sizes = np.cumsum([p.size for p in params])[:-1]

        def unpack(x):
            for p, part in zip(params, np.split(x, sizes)):
                p[...] = part.reshape(p.shape)

        # SciPy's L-BFGS-B does its vector work through BLAS calls too small to share: with
        # OpenBLAS on all cores each costs thread start-up and, on a busy machine, waits (on
        # 17,650 parameters and 2 cores, 16 ms per iteration instead of 1 ms). It runs on one
        # BLAS thread; the loss and gradients, the real work, on as many as before.
        blas = ThreadpoolController().select(user_api="blas")
        threads = max([lib["num_threads"] for lib in blas.info()] or [1])

        def fun(x):
            unpack(x)
            with blas.limit(limits=threads):
                value, grads = loss_and_grads(params)
            return float(value), np.concatenate([_flat(g) for g in grads]).astype(np.float64)

        x0 = np.concatenate([p.ravel() for p in params]).astype(np.float64)
        options = {
            "maxiter": self.max_iter,
            "maxfun": self.max_fun,
            "gtol": self.tol,
            "ftol": self.ftol,
        }
        with blas.limit(limits=1):
            result = scipy.optimize.minimize(
                fun, x0, jac=True, method="L-BFGS-B", options=options, callback=callback
            )
        unpack(result.x)
        return result

    __repr__ = _Optimizer.__repr__


OPTIMIZERS = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "sgdw": SGDW,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
    "lbfgs": LBFGS,
}


def get(name, **hyper):
    """Return the optimiser called ``name`` built with ``hyper`` (see :data:`OPTIMIZERS`).

    Examples
    --------
    >>> get("adam", learning_rate=0.01)
    Adam(learning_rate=0.01, beta1=0.9, beta2=0.999, eps=1e-08)
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}.")
    return OPTIMIZERS[name](**hyper)
