"""The lecture's ideas as small computations with the library, each checked by a test.

Every function here returns numbers; the figures of ``scripts/lecture.py`` draw them
(:mod:`pipelines.lecture`). What each shows:

* :data:`SURFACES` and :func:`trajectory`: the paths of every optimiser, the Newton step and
  L-BFGS on a badly conditioned quadratic, a saddle, a function with a local minimum and
  Rosenbrock's valley. Newton's step ``w - H^-1 grad`` solves a quadratic in one step.
* :func:`twenty_line_network` and :func:`twenty_line_network_library`: the lecture's neural
  network in 20 lines of NumPy (sigmoid hidden layer, squared error, plain SGD, no biases),
  and the same network as a :class:`~models.NeuralNetClassifier` started from the same
  weights: both give the same weights at every step.
* :func:`rings`, :func:`polar` and :func:`linear_accuracy`: two rings are not linearly
  separable in ``(x, y)`` and are in ``(r, theta)``.
* :func:`collapse`: a deep network without activation functions is one linear map.
* :func:`decay_paths`: an L2 penalty and decoupled weight decay give the same SGD steps
  (with ``weight_decay = 2 alpha lr``), not the same Adam steps.

The lecture's default values that differ from the library's are in :data:`LECTURE_DEFAULTS`,
one argument away.

Examples
--------
>>> import numpy as np
>>> from models.lecture import SURFACES, trajectory
>>> path = trajectory("newton", "quadratic", steps=1)
>>> bool(np.abs(path[1] - SURFACES["quadratic"].minimum).max() < 1e-12)
True
"""

from dataclasses import dataclass
from functools import reduce

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from . import optimizers
from .network import NeuralNetClassifier

__all__ = [
    "DEMO_LEARNING_RATES",
    "LECTURE_DEFAULTS",
    "SURFACES",
    "Surface",
    "collapse",
    "decay_paths",
    "digits_split",
    "linear_accuracy",
    "polar",
    "rings",
    "trajectory",
    "twenty_line_network",
    "twenty_line_network_library",
]

#: NeuralNetClassifier parameters at the lecture's values, where the library's defaults
#: (PyTorch's) differ: leaky ReLU ``max(0.2 x, x)`` and the ``1e-7`` of the lecture's
#: AdaGrad and RMSProp code.
LECTURE_DEFAULTS = {"negative_slope": 0.2, "eps": 1e-7}


# ---------------------------------------------------------------- optimiser trajectories
@dataclass(frozen=True)
class Surface:
    """A function of two variables with its gradient and Hessian, for the trajectory plots.

    ``value``, ``grad`` and ``hessian`` take a point ``p`` of shape (2, ...) (``value``
    broadcasts over a grid). ``minimum`` is the global minimum (None for the saddle), ``box``
    the drawing window ``(x_min, x_max, y_min, y_max)``.
    """

    value: object
    grad: object
    hessian: object
    start: tuple
    minimum: tuple | None
    box: tuple


def _quadratic_surface():
    # condition number 20, as in the lecture's "zig-zag" picture
    return Surface(
        value=lambda p: 0.5 * (p[0] ** 2 + 20 * p[1] ** 2),
        grad=lambda p: np.array([p[0], 20 * p[1]]),
        hessian=lambda p: np.diag([1.0, 20.0]),
        start=(-4.0, 1.0),
        minimum=(0.0, 0.0),
        box=(-4.5, 1.0, -1.5, 1.5),
    )


def _saddle_surface():
    return Surface(
        value=lambda p: p[0] ** 2 - p[1] ** 2,
        grad=lambda p: np.array([2 * p[0], -2 * p[1]]),
        hessian=lambda p: np.diag([2.0, -2.0]),
        start=(-2.0, 1e-3),  # almost on the ridge: the gradient barely points off it
        minimum=None,
        box=(-2.5, 1.0, -1.5, 1.5),
    )


def _local_minimum_surface():
    # x^4 - 2 x^2 + x / 2 + y^2: a global minimum near x = -1.06, a local one near x = 0.93
    return Surface(
        value=lambda p: p[0] ** 4 - 2 * p[0] ** 2 + 0.5 * p[0] + p[1] ** 2,
        grad=lambda p: np.array([4 * p[0] ** 3 - 4 * p[0] + 0.5, 2 * p[1]]),
        hessian=lambda p: np.diag([12 * p[0] ** 2 - 4, 2.0]),
        start=(1.8, 1.2),
        minimum=(-1.0574, 0.0),
        box=(-2.0, 2.0, -1.5, 1.5),
    )


def _rosenbrock_surface():
    return Surface(
        value=lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2,
        grad=lambda p: np.array(
            [-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)]
        ),
        hessian=lambda p: np.array(
            [[2 - 400 * (p[1] - 3 * p[0] ** 2), -400 * p[0]], [-400 * p[0], 200.0]]
        ),
        start=(-1.5, 2.0),
        minimum=(1.0, 1.0),
        box=(-2.0, 2.0, -1.0, 3.0),
    )


SURFACES = {
    "quadratic": _quadratic_surface(),
    "saddle": _saddle_surface(),
    "local minimum": _local_minimum_surface(),
    "rosenbrock": _rosenbrock_surface(),
}

#: learning rates for the pictures (not the library defaults); plain and momentum SGD also
#: scale with the size of the gradient, so they get smaller steps on Rosenbrock
DEMO_LEARNING_RATES = {
    "sgd": 0.04,
    "momentum": 0.01,
    "nesterov": 0.01,
    "sgdw": 0.01,
    "adagrad": 0.5,
    "rmsprop": 0.02,
    "adam": 0.05,
    "adamw": 0.05,
}
_GRADIENT_SCALE = {"rosenbrock": 0.02}


def trajectory(method, surface, steps=300):
    """The points visited by ``method`` on ``SURFACES[surface]``, start included.

    Parameters
    ----------
    method : str
        A first-order optimiser of :data:`models.OPTIMIZERS` (with the learning rate of
        :data:`DEMO_LEARNING_RATES`), ``"lbfgs"`` (SciPy's L-BFGS-B through
        :class:`models.optimizers.LBFGS`), or ``"newton"``: ``w -= H(w)^-1 grad(w)``.
    surface : str
        A key of :data:`SURFACES`.
    steps : int, default=300
        Steps (iterations for lbfgs); a path that leaves the plane (|w| > 1e3) stops early.

    Returns
    -------
    path : ndarray of shape (n_points, 2)
    """
    f = SURFACES[surface]
    p = np.array(f.start, dtype=np.float64)
    path = [p.copy()]
    if method == "lbfgs":
        optimizers.LBFGS(max_iter=steps, tol=1e-10).minimize(
            [p],
            lambda ps: (f.value(ps[0]), [f.grad(ps[0])]),
            callback=lambda intermediate_result: path.append(intermediate_result.x.copy()),
        )
        return np.array(path)
    if method == "newton":
        step = lambda q: np.linalg.solve(f.hessian(q), f.grad(q))  # noqa: E731
    else:
        adaptive = method in ("adagrad", "rmsprop", "adam", "adamw")
        scale = 1.0 if adaptive else _GRADIENT_SCALE.get(surface, 1.0)
        opt = optimizers.get(method, learning_rate=DEMO_LEARNING_RATES[method] * scale)
    for _ in range(steps):
        if method == "newton":
            p -= step(p)
        else:
            opt.step([p], [f.grad(p)])
        path.append(p.copy())
        if not np.isfinite(p).all() or np.abs(p).max() > 1e3:
            break
    return np.array(path)


# ---------------------------------------------------------------- the 20-line network
def twenty_line_data(n=64, d_in=1000, hidden=100, d_out=10, random_state=0):
    """The lecture's random problem: ``x``, one-hot targets ``y`` of random ``labels``, and
    the start weights ``w1``, ``w2`` (``randn``), as ``(x, labels, y, w1, w2)``."""
    rng = np.random.default_rng(random_state)
    x = rng.standard_normal((n, d_in))
    labels = rng.permutation(np.arange(n) % d_out)  # every class present
    y = np.eye(d_out)[labels]
    w1, w2 = rng.standard_normal((d_in, hidden)), rng.standard_normal((hidden, d_out))
    return x, labels, y, w1, w2


def twenty_line_network(x, y, w1, w2, steps=100, learning_rate=1e-4):
    """The lecture's network in 20 lines of NumPy, returning each step's loss and weights.

    The loop body is the lecture's, line for line: a sigmoid hidden layer, the squared
    error summed over the batch, its gradients by hand, plain SGD. Only ``y`` differs: the
    one-hot targets of class labels instead of random numbers, so that a classifier can
    train on the same problem.

    Returns
    -------
    losses : list of float
        The loss before each step.
    weights : list of (ndarray, ndarray)
        ``(w1, w2)`` after each step.
    """
    w1, w2 = w1.copy(), w2.copy()
    losses, weights = [], []
    for _ in range(steps):
        h = 1 / (1 + np.exp(-x.dot(w1)))
        y_pred = h.dot(w2)
        loss = np.square(y_pred - y).sum()
        losses.append(float(loss))

        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(w2.T)
        grad_w1 = x.T.dot(grad_h * h * (1 - h))

        w1 -= learning_rate * grad_w1
        w2 -= learning_rate * grad_w2
        weights.append((w1.copy(), w2.copy()))
    return losses, weights


def twenty_line_network_library(x, labels, w1, w2, steps=100, learning_rate=1e-4):
    """The same network as a :class:`~models.NeuralNetClassifier`, from the same weights.

    Sigmoid, ``loss="squared_error"``, plain SGD, no biases, float64, one full batch per
    epoch. The library's loss is the mean over the batch, the lecture's the sum, so the
    library's learning rate is ``n`` times the lecture's. A first ``partial_fit`` builds the
    network (SGD keeps no state); its weights are then set to ``w1``, ``w2``.

    Returns
    -------
    losses, weights
        As :func:`twenty_line_network` (losses summed over the batch, as the lecture's).
    """
    n = len(x)
    clf = NeuralNetClassifier(
        (w1.shape[1],),
        activation="sigmoid",
        loss="squared_error",
        optimizer="sgd",
        learning_rate=learning_rate * n,
        batch_size=n,
        shuffle=False,
        fit_intercept=False,
        dtype=np.float64,
        random_state=0,
    )
    clf.partial_fit(x, labels, classes=np.arange(w2.shape[1]))
    clf.coefs_[0][...] = w1
    clf.coefs_[1][...] = w2
    losses, weights = [], []
    for _ in range(steps):
        clf.partial_fit(x, labels)
        losses.append(clf.loss_curve_[-1] * n)
        weights.append((clf.coefs_[0].copy(), clf.coefs_[1].copy()))
    return losses, weights


# ---------------------------------------------------------------- feature transforms
def rings(n_samples=400, noise=0.15, random_state=0):
    """Two concentric rings (radii 1 and 2, Gaussian noise), labels 0 (inner) and 1.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
    """
    rng = np.random.default_rng(random_state)
    y = np.arange(n_samples) % 2
    theta = rng.uniform(-np.pi, np.pi, n_samples)
    r = 1.0 + y + rng.normal(0, noise, n_samples)
    return np.column_stack([r * np.cos(theta), r * np.sin(theta)]), y


def polar(X):
    """The feature transform ``(x, y) -> (r, theta) = (sqrt(x^2 + y^2), atan2(y, x))``."""
    return np.column_stack([np.hypot(X[:, 0], X[:, 1]), np.arctan2(X[:, 1], X[:, 0])])


def linear_accuracy(X, y, random_state=0):
    """Held-out accuracy of the library's linear softmax classifier (L-BFGS) on ``(X, y)``.

    Half of the samples train it (stratified), the other half score it. Returns the score
    and the fitted classifier.
    """
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=random_state
    )
    clf = NeuralNetClassifier((), optimizer="lbfgs", dtype=np.float64, random_state=0)
    clf.fit(X_train, y_train)
    return float(clf.score(X_test, y_test)), clf


# ---------------------------------------------------------------- no activation function
def collapse(network):
    """The one linear map ``X W + b`` that a network without activations computes.

    With identity activations ``((X W1 + b1) W2 + b2) ... = X (W1 W2 ...) + b``.

    Parameters
    ----------
    network : NeuralNetClassifier
        Fitted, with ``activation="identity"``.

    Returns
    -------
    W : ndarray of shape (n_features, n_classes)
    b : ndarray of shape (n_classes,)
    """
    if network.activation != "identity":
        raise ValueError(
            f"collapse needs a network with activation='identity'; got "
            f"activation={network.activation!r}."
        )
    coefs = [W.astype(np.float64) for W in network.coefs_]
    W = reduce(np.matmul, coefs)
    b = np.zeros(coefs[0].shape[0])  # the map of x = 0, layer by layer
    for W_layer, b_layer in zip(coefs, network.intercepts_):
        b = b @ W_layer + b_layer
    return W, b


# ---------------------------------------------------------------- L2 against weight decay
def digits_split(random_state=0):
    """scikit-learn's digits (pixels / 16), split 70 / 30, stratified."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.3, stratify=y, random_state=random_state)


def decay_paths(adaptive, alpha=1e-3, epochs=30, learning_rate=None, hidden=(32,)):
    """Weights after each epoch with an L2 penalty and with the matching decoupled decay.

    One network on digits trained twice from the same start with the same batches: SGD
    (``adaptive=False``, learning rate 0.05) or Adam (learning rate 1e-3) on the loss plus
    ``alpha ||W||^2``, and SGDW without momentum or AdamW with
    ``weight_decay = 2 alpha learning_rate`` on the loss alone. No biases, so that the decay
    touches the same parameters as the penalty.

    Returns
    -------
    l2, decoupled : list of list of ndarray
        The weights (``coefs_``) after each epoch of each run.
    """
    lr = learning_rate or (1e-3 if adaptive else 0.05)
    X, _, y, _ = digits_split()
    common = {
        "hidden_layer_sizes": hidden,
        "learning_rate": lr,
        "batch_size": 32,
        "fit_intercept": False,
        "dtype": np.float64,
        "random_state": 0,
    }
    runs = {
        "l2": NeuralNetClassifier(optimizer="adam" if adaptive else "sgd", alpha=alpha, **common),
        "decoupled": NeuralNetClassifier(
            optimizer="adamw" if adaptive else "sgdw",
            weight_decay=2 * alpha * lr,
            **common,
        ),
    }
    if not adaptive:
        runs["decoupled"].set_params(momentum=0.0)
    paths = {}
    for name, clf in runs.items():
        paths[name] = []
        for _ in range(epochs):
            clf.partial_fit(X, y, classes=np.arange(10))
            paths[name].append([W.copy() for W in clf.coefs_])
    return paths["l2"], paths["decoupled"]
