"""A NumPy neural-network classifier with the optimisers, activations and losses of the lecture.

The network is a stack of fully connected layers ``z = a W + b`` with one activation for the
hidden layers and a linear output layer scored by the loss (softmax cross-entropy, the
multiclass hinge, the one-vs-rest squared hinge or the squared error to one-hot targets).
``hidden_layer_sizes=()`` gives the linear softmax / SVM classifier.

Training, for each epoch:

1. shuffle the samples and cut them into mini-batches of ``batch_size`` rows;
2. for each batch, forward pass (BLAS matrix products on the whole batch, in ``dtype``), loss,
   backward pass into preallocated gradient arrays, plus ``2 alpha W`` for the L2 penalty;
3. optimiser step with the schedule's multiplier ``eta_t`` (fused, in-place updates);
4. record the mean batch loss in ``loss_curve_`` (and the validation accuracy in
   ``validation_scores_`` with ``early_stopping``); stop once it has not improved by ``tol``
   for ``n_iter_no_change`` epochs (with ``early_stopping``, an ``EarlyStoppingWarning`` says
   so).

``optimizer="lbfgs"`` instead minimises the full-batch loss with SciPy's L-BFGS-B.

References
----------
Glorot & Bengio (2010), Understanding the difficulty of training deep feedforward neural
networks, AISTATS. He et al. (2015), Delving deep into rectifiers, ICCV,
:doi:`10.1109/ICCV.2015.123`. Loshchilov & Hutter (2019), Decoupled weight decay
regularization, ICLR.
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
from numba import njit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from . import activations, losses, optimizers, schedules
from ._param import Interval, Options, StrOptions, _fit_context, validate_data

__all__ = ["EarlyStoppingWarning", "NeuralNetClassifier"]

_PREDICT_CHUNK = 4096  # rows per forward pass at prediction time (bounds memory)
_GRAM_CHUNK = 4096  # rows per block of the Gram matrix of init="least_squares"


def _progress_bar(verbose, total, unit, desc):
    """The ``verbose`` bar on stderr; nested under an open bar, it is removed when done."""
    return tqdm(
        range(total) if unit == "epoch" else None,
        total=total,
        disable=not verbose,
        unit=unit,
        desc=desc,
        leave=None,
        dynamic_ncols=True,
    )


class _Workspace:
    """Scratch arrays for one batch size, reused by every batch (no allocation per batch)."""

    def __init__(self, batch_size, coefs, dtype):
        # z[l]: pre-activations (scores for the last layer) of layer l;
        # d[l]: gradient with respect to the output of hidden layer l
        self.z = [np.empty((batch_size, W.shape[1]), dtype=dtype) for W in coefs]
        self.d = [np.empty((batch_size, W.shape[0]), dtype=dtype) for W in coefs[1:]]


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _add_penalty(grad, w, scale):
    """``grad += scale * w`` and ``sum(w * w)`` in one pass over memory.

    BLAS axpy was ten times slower here (threaded), and a separate dot product reads ``w``
    again. The sum is float64 and may be reassociated (so that it vectorises); ``grad`` gets
    exactly ``grad + scale * w``, rounded after the product (no fused multiply-add).
    """
    total = 0.0
    for i in range(w.size):
        wi = w[i]
        total += wi * wi
        grad[i] += scale * wi
    return total


def _solve_spd(a, b):
    """Solve ``a x = b`` for symmetric positive semi-definite ``a`` (least squares if singular)."""
    try:
        return scipy.linalg.solve(a, b, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):  # alpha=0, rank-deficient X
        return scipy.linalg.lstsq(a, b)[0]


def _cholesky(a):
    """Lower Cholesky factor of symmetric ``a``, or None when ``a`` is not positive definite."""
    try:
        return scipy.linalg.cholesky(a, lower=True, check_finite=False)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return None


def _largest(arrays):
    """The largest absolute value in ``arrays``."""
    return max(float(np.abs(a).max()) for a in arrays)


def _has_proba(estimator):
    return losses.LOSSES[estimator.loss].has_proba


def _is_stochastic(estimator):
    return not optimizers.OPTIMIZERS[estimator.optimizer].full_batch


class EarlyStoppingWarning(UserWarning):
    """Early stopping ended a fit: the validation score stopped improving before
    ``max_epochs``. The message gives the epochs run and the epoch whose parameters are kept."""


class NeuralNetClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier trained with the optimisers of the lecture.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Units of each hidden layer; ``()`` gives a linear classifier.
    activation : {"relu", "identity", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", \
"maxout"}, default="relu"
        Activation of the hidden layers (see :mod:`models.activations`).
    negative_slope : float, default=0.01
        Slope of ``leaky_relu`` for negative inputs (0.01: Maas et al. and PyTorch; the
        lecture's ``max(0.2 x, x)`` is ``negative_slope=0.2``).
    elu_alpha : float, default=1.0
        Saturation value ``-elu_alpha`` of ``elu``.
    maxout_pieces : int, default=2
        Linear pieces per ``maxout`` unit.
    loss : {"softmax", "svm", "squared_hinge", "squared_error"}, default="softmax"
        Cross-entropy of the softmax, the multiclass hinge loss, the one-vs-rest squared
        hinge of an L2-SVM (as ``LinearSVC``), or the squared error to one-hot targets (the
        lecture's 20-line network); see :mod:`models.losses`. ``predict_proba`` exists for
        the losses whose ``has_proba`` is true (softmax).
    alpha : float, default=0.0
        L2 penalty ``alpha * ||W||^2`` added to the mean loss (weights only, not biases).
    optimizer : {"adamw", "adam", "sgd", "momentum", "nesterov", "sgdw", "adagrad", \
"rmsprop", "lbfgs"}, default="adamw"
        Update rule (see :mod:`models.optimizers`). Each optimiser receives the parameters
        below that name it; the others are ignored.
    learning_rate : float, default=1e-3
        Step size of every optimiser but lbfgs.
    momentum : float, default=0.9
        Momentum of ``momentum``, ``nesterov`` and ``sgdw``.
    decay_rate : float, default=0.99
        Decay of the squared-gradient average of ``rmsprop``.
    beta1, beta2 : float, default=0.9, 0.999
        Moment decays of ``adam`` and ``adamw``.
    eps : float, default=1e-8
        Added to the denominators of ``adagrad``, ``rmsprop``, ``adam`` and ``adamw``
        (PyTorch's default; the lecture's AdaGrad and RMSProp code uses ``eps=1e-7``).
    weight_decay : float, default=1e-5
        Decoupled weight decay of ``adamw`` and ``sgdw`` per step, not multiplied by
        ``learning_rate`` (Loshchilov & Hutter; PyTorch's ``weight_decay=0.01`` at ``lr=1e-3``
        is ``1e-5``). It decays every parameter, biases included.
    schedule : {"constant", "step", "cosine", "warm_restarts"} or callable, default="constant"
        Learning-rate multiplier ``eta_t = schedule(epoch, max_epochs)``: ``"step"`` divides it
        by 10 after each third of ``max_epochs``, ``"cosine"`` goes from 1 to 0 over
        ``max_epochs``, ``"warm_restarts"`` does so in 3 cycles of 1, 2 and 4 sevenths of
        ``max_epochs`` (SGDR). A :mod:`models.schedules` object gives other settings
        (warm-up, cycles...).
    batch_size : int, default=16
        Samples per mini-batch (clipped to the number of samples).
    max_epochs : int, default=1000
        Maximum number of passes over the data (iterations for lbfgs).
    tol : float, default=1e-4
        Improvement of the training loss (or validation accuracy) below which an epoch counts
        as no improvement; for lbfgs, the largest component of the gradient of the objective
        (mean loss plus penalty) at which it has converged.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified when every class has
        room on both sides), score it after each epoch, stop when it has not improved for
        ``n_iter_no_change`` epochs and keep the best parameters (of the last epoch with the
        best score, on ties); a fit that ends this way warns ``EarlyStoppingWarning``. Ignored
        by lbfgs.
    validation_fraction : float, default=0.1
        Share of the training data held out by ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    shuffle : bool, default=True
        Shuffle the samples before each epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, shuffling and validation split.
    fit_intercept : bool, default=True
        Give every layer a bias. False keeps the biases at 0 (their gradient is 0), as in the
        lecture's 20-line network.
    init : {"random", "least_squares"}, default="random"
        Starting parameters of ``fit``. "random": see Notes. "least_squares", for networks
        without hidden layers only: the minimiser of the same penalised objective with the
        loss replaced by the squared error to scores of +1 for the true class and -1 for the
        others, ``1/n sum_i ||x_i W + b - t_i||^2 + alpha ||W||^2`` (ridge regression: one
        Gram matrix, features x features or, with fewer than half as many samples as
        features, samples x samples, and one Cholesky solve in float64). On samples inside
        the margin the squared hinge *is* this squared error, so L-BFGS has far less to do
        from there. With lbfgs and the features x features form, the Cholesky factor also
        preconditions L-BFGS (it runs in the coordinates that whiten the ridge problem), which
        cuts its iterations several times on correlated features.
    dtype : {np.float32, np.float64}, default=np.float32
        Floating type of the parameters and of every computation.
    verbose : bool or int, default=False
        Show a tqdm progress bar on stderr over epochs (L-BFGS: iterations) with the loss
        (and validation score). Under another open bar (such as that of
        ``visionfeatures compare``) it nests below it and is removed when the fit ends.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coefs_, intercepts_ : list of ndarray
        Weights ``(fan_in, fan_out)`` and biases ``(fan_out,)`` of each layer.
    loss_curve_ : list of float
        Mean training loss of each epoch (penalty included).
    validation_scores_ : list of float or None
        Validation accuracy of each epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.
    n_epochs_ : int
        Epochs run (iterations for lbfgs). Training that reaches ``max_epochs`` without meeting
        the stopping rule warns ``ConvergenceWarning``, unless the schedule has brought the
        learning rate to 0 (``"cosine"``).
    optimizer_ : object
        The optimiser with its state (continued by ``partial_fit``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : sgd/adam/lbfgs and four activations only.

    Notes
    -----
    Hidden layers with ReLU-like activations (relu, leaky_relu, elu, softplus, maxout) start
    from He's normal initialisation ``N(0, 2 / fan_in)``, the others and the output layer from
    Glorot's uniform ``U(+-sqrt(6 / (fan_in + fan_out)))``; biases start at 0.
    A binary problem uses two output scores; its ``decision_function`` is their difference.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from models import NeuralNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NeuralNetClassifier(hidden_layer_sizes=(64,), random_state=0).fit(X / 16, y)
    >>> round(clf.score(X / 16, y), 2)
    1.0
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(activations.ACTIVATIONS))],
        "negative_slope": [Interval(Real, 0, 1, closed="left")],
        "elu_alpha": [Interval(Real, 0, None, closed="neither")],
        "maxout_pieces": [Interval(Integral, 2, None, closed="left")],
        "loss": [StrOptions(set(losses.LOSSES))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions(set(optimizers.OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "decay_rate": [Interval(Real, 0, 1, closed="left")],
        "beta1": [Interval(Real, 0, 1, closed="left")],
        "beta2": [Interval(Real, 0, 1, closed="left")],
        "eps": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "schedule": [StrOptions(set(schedules.SCHEDULES)), callable],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "fit_intercept": ["boolean"],
        "init": [StrOptions({"random", "least_squares"})],
        "dtype": [Options(type, {np.float32, np.float64})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        activation="relu",
        negative_slope=0.01,
        elu_alpha=1.0,
        maxout_pieces=2,
        loss="softmax",
        alpha=0.0,
        optimizer="adamw",
        learning_rate=1e-3,
        momentum=0.9,
        decay_rate=0.99,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        weight_decay=1e-5,
        schedule="constant",
        batch_size=16,
        max_epochs=1000,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        shuffle=True,
        random_state=None,
        fit_intercept=True,
        init="random",
        dtype=np.float32,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.negative_slope = negative_slope
        self.elu_alpha = elu_alpha
        self.maxout_pieces = maxout_pieces
        self.loss = loss
        self.alpha = alpha
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.decay_rate = decay_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.fit_intercept = fit_intercept
        self.init = init
        self.dtype = dtype
        self.verbose = verbose

    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network on ``X`` (n_samples, n_features) and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : NeuralNetClassifier
        """
        X, y = validate_data(self, X, y, dtype=self.dtype, order="C")
        check_classification_targets(y)
        self.classes_, y = np.unique(y, return_inverse=True)
        self._rng = check_random_state(self.random_state)
        self._start(X.shape[1])
        if self.init == "least_squares":
            self._least_squares_start(X, y)
        if not _is_stochastic(self):
            self._fit_lbfgs(X, y)
            return self
        X_val = y_val = None
        if self.early_stopping:
            # stratified when every class can be on both sides, else a plain shuffled split
            n_val, n_classes = math.ceil(self.validation_fraction * len(y)), len(self.classes_)
            can_stratify = min(n_val, len(y) - n_val) >= n_classes and np.bincount(y).min() >= 2
            X, X_val, y, y_val = train_test_split(
                X,
                y,
                test_size=self.validation_fraction,
                stratify=y if can_stratify else None,
                random_state=self._rng.randint(np.iinfo(np.int32).max),
            )
        converged = self._run_epochs(X, y, self.max_epochs, X_val, y_val)
        if self.early_stopping:
            self._set_params(self._best_params)
            del self._best_params
            if converged and self.n_epochs_ < self.max_epochs:
                scores = self.validation_scores_  # the last epoch with the best score
                best_epoch = len(scores) - int(np.argmax(scores[::-1]))
                warnings.warn(
                    f"NeuralNetClassifier stopped early after {self.n_epochs_} of "
                    f"max_epochs={self.max_epochs} epochs: the validation accuracy did not "
                    f"improve by tol={self.tol} for n_iter_no_change={self.n_iter_no_change} "
                    f"epochs; the parameters of epoch {best_epoch} (validation accuracy "
                    f"{self.best_validation_score_:.4f}) are kept.",
                    EarlyStoppingWarning,
                    stacklevel=3,
                )
        if not converged and self._schedule_fn()(self.max_epochs, self.max_epochs) > 0:
            # (a schedule that ends at 0, like "cosine", finishes its training by design)
            warnings.warn(
                f"NeuralNetClassifier stopped after max_epochs={self.max_epochs} epochs without "
                "converging; raise max_epochs or the learning rate.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    @available_if(_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Run one epoch over ``(X, y)``, starting from the current parameters.

        The optimiser keeps its state between calls; ``early_stopping`` and the stopping rule
        do not apply (the caller decides when to stop).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All the classes, required on the first call (when the model is not fitted).

        Returns
        -------
        self : NeuralNetClassifier
        """
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("NeuralNetClassifier.partial_fit needs `classes` on its first call.")
        X, y = validate_data(self, X, y, dtype=self.dtype, order="C", reset=first)
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(classes)
            self._rng = check_random_state(self.random_state)
            self._start(X.shape[1])
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"NeuralNetClassifier.partial_fit got labels {unknown.tolist()} that are not "
                f"in classes_ {self.classes_.tolist()}."
            )
        self._run_epochs(X, np.searchsorted(self.classes_, y), 1, None, None)
        return self

    def decision_function(self, X):
        """Scores of the output layer: (n_samples, n_classes), or (n_samples,) for two classes
        (score of ``classes_[1]`` minus score of ``classes_[0]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
        """
        scores = self._scores(X)
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict(self, X):
        """Class of the highest score for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        scores = self._scores(X)
        return self.classes_[scores.argmax(axis=1)]

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Softmax probabilities (n_samples, n_classes); only for a loss with ``has_proba``
        (``loss="softmax"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return losses.softmax(self._scores(X))

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without underflow."""
        scores = self._scores(X)
        scores -= scores.max(axis=1, keepdims=True)
        scores -= np.log(np.exp(scores).sum(axis=1, keepdims=True))
        return scores

    # ------------------------------------------------------------------ setup
    def _hidden_sizes(self):
        sizes = np.asarray(self.hidden_layer_sizes).reshape(-1)
        ok = sizes.size == 0 or (np.issubdtype(sizes.dtype, np.integer) and sizes.min() > 0)
        if not ok:
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive ints; got "
                f"{self.hidden_layer_sizes!r}."
            )
        return [int(s) for s in sizes]

    def _start(self, n_features):
        """Build activation, loss and optimiser, and initialise the parameters."""
        if len(self.classes_) < 2:
            raise ValueError(
                "NeuralNetClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_[0]!r})."
            )
        hyper = {
            "leaky_relu": {"negative_slope": self.negative_slope},
            "elu": {"alpha": self.elu_alpha},
            "maxout": {"pieces": self.maxout_pieces},
        }.get(self.activation, {})
        self.activation_fn_ = activations.get(self.activation, **hyper)
        self.loss_fn_ = losses.get(self.loss)
        self.optimizer_ = optimizers.get(self.optimizer, **self._optimizer_args())
        sizes = [n_features, *self._hidden_sizes(), len(self.classes_)]
        pieces = self.activation_fn_.pieces
        self.coefs_, self.intercepts_ = [], []
        rng = self._rng
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            hidden = layer < len(sizes) - 2
            width = fan_out * pieces if hidden else fan_out
            if hidden and self.activation_fn_.he_init:
                W = rng.standard_normal((fan_in, width)) * math.sqrt(2.0 / fan_in)
            else:
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                if hidden and self.activation == "sigmoid":
                    limit *= 4.0  # sigmoid'(0) = 1/4 (Glorot & Bengio 2010)
                W = rng.uniform(-limit, limit, (fan_in, width))
            self.coefs_.append(np.ascontiguousarray(W, dtype=self.dtype))
            self.intercepts_.append(np.zeros(width, dtype=self.dtype))
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = None
        self.n_epochs_ = 0

    def _optimizer_args(self):
        """The estimator's parameters that the chosen optimiser takes, by name."""
        lr = {"learning_rate": self.learning_rate}
        adam = {**lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}
        return {
            "sgd": lr,
            "momentum": {**lr, "momentum": self.momentum},
            "nesterov": {**lr, "momentum": self.momentum},
            "sgdw": {**lr, "momentum": self.momentum, "weight_decay": self.weight_decay},
            "adagrad": {**lr, "eps": self.eps},
            "rmsprop": {**lr, "decay_rate": self.decay_rate, "eps": self.eps},
            "adam": adam,
            "adamw": {**adam, "weight_decay": self.weight_decay},
            "lbfgs": {"max_iter": self.max_epochs, "tol": self.tol},
        }[self.optimizer]

    def _least_squares_start(self, X, y):
        """Set the single layer to the ridge regression of +-1 targets (``init``).

        With at least half as many samples as features, the features x features system is
        solved by a Cholesky factorisation, which lbfgs then uses as its preconditioner
        (``_fit_lbfgs``); with fewer samples, the samples x samples form.
        """
        if len(self.coefs_) != 1:
            raise ValueError(
                "init='least_squares' needs a network without hidden layers "
                f"(hidden_layer_sizes=()); got hidden_layer_sizes={self.hidden_layer_sizes!r}."
            )
        n, d = X.shape
        targets = np.full((n, len(self.classes_)), -1.0)
        targets[np.arange(n), y] = 1.0
        mean = X.mean(axis=0, dtype=np.float64).astype(X.dtype)
        target_mean = targets.mean(axis=0)
        centred_targets = (targets - target_mean).astype(X.dtype)
        if 2 * n < d:
            # far fewer samples than features: the n x n form of the same solution,
            # W = Xc^T (Xc Xc^T + n alpha I)^-1 T (centred X and T)
            centred = X - mean
            kernel = (centred @ centred.T).astype(np.float64)
            kernel[np.diag_indices(n)] += n * self.alpha
            dual = _solve_spd(kernel, centred_targets.astype(np.float64))
            W = centred.T.astype(np.float64) @ dual
        else:
            # (Xc^T Xc / n + alpha I) W = Xc^T T / n, the Gram matrix summed over row blocks
            # (centred in blocks: the intercept is free)
            gram, right = np.zeros((d, d)), np.zeros((d, len(self.classes_)))
            for start in range(0, n, _GRAM_CHUNK):
                block = X[start : start + _GRAM_CHUNK] - mean
                gram += block.T @ block
                right += block.T @ centred_targets[start : start + _GRAM_CHUNK]
            gram /= n
            right /= n
            gram[np.diag_indices(d)] += self.alpha
            factor = _cholesky(gram)
            if factor is None:  # alpha=0 and rank-deficient X
                W = scipy.linalg.lstsq(gram, right)[0]
            else:
                W = scipy.linalg.cho_solve((factor, True), right)
                if self.optimizer == "lbfgs":
                    self._preconditioner = factor  # taken (and dropped) by _fit_lbfgs
        self.coefs_[0][...] = W
        self.intercepts_[0][...] = target_mean - mean.astype(np.float64) @ W

    def _params(self):
        return [p for pair in zip(self.coefs_, self.intercepts_) for p in pair]

    def _set_params(self, values):
        for p, v in zip(self._params(), values):
            np.copyto(p, v)

    # ------------------------------------------------------------------ computation
    def _largest_gradient(self, X, y, work=None, grads=None):
        """Largest component of the gradient of the mean objective (loss plus penalty) on the
        full batch ``X``: the stopping test of the full-batch solvers."""
        if work is None:
            work = _Workspace(X.shape[0], self.coefs_, self.dtype)
            grads = [np.empty_like(p) for p in self._params()]
        return _largest(self._forward_backward(X, y, work, grads)[1])

    def _forward_backward(self, X, y, work, grads):
        """Mean loss (plus penalty) of the batch ``X`` and its gradients, written to ``grads``.

        Every intermediate array lives in ``work``; ``grads`` alternates (dW, db) per layer.
        """
        m = X.shape[0]
        act = self.activation_fn_
        outputs, caches = [X], []
        for W, b, z in zip(self.coefs_, self.intercepts_, work.z):
            z = np.matmul(outputs[-1], W, out=z[:m])
            z += b
            if len(outputs) < len(self.coefs_):
                a, cache = act.forward(z)
                outputs.append(a)
                caches.append(cache)
        value, delta = self.loss_fn_(z, y)
        for layer in range(len(self.coefs_) - 1, -1, -1):
            W = self.coefs_[layer]
            np.matmul(outputs[layer].T, delta, out=grads[2 * layer])
            if self.fit_intercept:
                np.sum(delta, axis=0, out=grads[2 * layer + 1])
            else:
                grads[2 * layer + 1].fill(0)  # biases stay at 0
            if layer:
                grad_a = np.matmul(delta, W.T, out=work.d[layer - 1][:m])
                delta = act.backward(grad_a, caches[layer - 1])
        if self.alpha:
            for W, gW in zip(self.coefs_, grads[::2]):
                scale = gW.dtype.type(2.0 * self.alpha)
                value += self.alpha * float(_add_penalty(gW.reshape(-1), W.reshape(-1), scale))
        return value, grads

    def _scores(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=self.dtype, order="C", reset=False)
        scores = np.empty((X.shape[0], len(self.classes_)), dtype=self.dtype)
        last = len(self.coefs_) - 1
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            a = X[start : start + _PREDICT_CHUNK]
            for layer, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
                z = a @ W
                z += b
                a = z if layer == last else self.activation_fn_.forward(z)[0]
            scores[start : start + _PREDICT_CHUNK] = a
        return scores

    def _schedule_fn(self):
        if callable(self.schedule):
            return self.schedule
        if self.schedule == "step":
            return schedules.Step(step_size=max(1, self.max_epochs // 3), gamma=0.1)
        return schedules.get(self.schedule)

    # ------------------------------------------------------------------ training loops
    def _run_epochs(self, X, y, n_epochs, X_val, y_val):
        """Mini-batch epochs; True when stopped by the no-improvement rule."""
        n = X.shape[0]
        batch_size = min(self.batch_size, n)
        work = _Workspace(batch_size, self.coefs_, self.dtype)
        params = self._params()
        grads = [np.empty_like(p) for p in params]
        schedule = self._schedule_fn()
        best_loss = min(self.loss_curve_, default=np.inf)
        no_improvement = 0
        bar = _progress_bar(self.verbose, n_epochs, "epoch", type(self).__name__)
        for _ in bar:
            with np.errstate(over="ignore", invalid="ignore"):  # divergence: error below
                total = self._epoch(X, y, batch_size, work, params, grads, schedule)
            self.n_epochs_ += 1
            self.loss_curve_.append(float(total / n))
            if not np.isfinite(total):
                raise ValueError(
                    "NeuralNetClassifier diverged (the training loss is not finite); lower "
                    "learning_rate."
                )
            if X_val is None:
                improved = self.loss_curve_[-1] < best_loss - self.tol
                best_loss = min(best_loss, self.loss_curve_[-1])
                bar.set_postfix(loss=f"{self.loss_curve_[-1]:.4g}")
            else:
                score = float(np.mean(self.predict(X_val) == self.classes_[y_val]))
                self.validation_scores_.append(score)
                best = self.best_validation_score_
                improved = best is None or score >= best + self.tol
                if best is None or score >= best:  # on ties, the more trained parameters
                    self.best_validation_score_ = score
                    self._best_params = [p.copy() for p in params]
                bar.set_postfix(loss=f"{self.loss_curve_[-1]:.4g}", val=f"{score:.4f}")
            no_improvement = 0 if improved else no_improvement + 1
            if no_improvement >= self.n_iter_no_change:
                bar.close()
                return True
        return False

    def _epoch(self, X, y, batch_size, work, params, grads, schedule):
        """One pass over shuffled mini-batches; returns the summed batch losses."""
        n = X.shape[0]
        n_batches = -(-n // batch_size)
        order = self._rng.permutation(n) if self.shuffle else None
        total = 0.0
        for batch, start in enumerate(range(0, n, batch_size)):
            if order is None:
                Xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            else:
                idx = order[start : start + batch_size]
                Xb, yb = X[idx], y[idx]
            value, grads = self._forward_backward(Xb, yb, work, grads)
            total += value * Xb.shape[0]
            eta = schedule(self.n_epochs_ + batch / n_batches, self.max_epochs)
            self.optimizer_.step(params, grads, lr_mult=eta)
        return total

    def _fit_lbfgs(self, X, y):
        """Full-batch L-BFGS until no component of the gradient exceeds ``tol``.

        After the least-squares start, the weights are optimised in the coordinates
        ``V = L^T W``, where ``L L^T = Xc^T Xc / n + alpha I`` is the Cholesky factorisation
        of that start's system: in them the ridge problem's Hessian is the identity and the
        losses' Hessians are near it, so that L-BFGS needs far fewer iterations (squared
        hinge on 40,000 CIFAR-10 HOG vectors: 15 to 20 instead of 85 to 245). The stopping
        test is on the gradient with respect to the weights and biases themselves, as without
        the preconditioner.
        """
        work = _Workspace(X.shape[0], self.coefs_, self.dtype)
        grads = [np.empty_like(p) for p in self._params()]
        factor = self.__dict__.pop("_preconditioner", None)
        # SciPy's own gradient test would see the preconditioned gradient: the test is ours
        # (nor SciPy's test on the relative decrease of the loss, which stopped softmax fits
        # short of the minimum as if they had converged)
        self.optimizer_ = optimizers.LBFGS(max_iter=self.max_epochs, tol=0.0, ftol=0.0)
        last = {}  # the loss and gradients of the latest evaluation

        def loss_and_grads(params):
            if factor is not None:
                W = scipy.linalg.solve_triangular(
                    factor, params[0], lower=True, trans="T", check_finite=False
                )
                self.coefs_[0][...] = W
            value, found = self._forward_backward(X, y, work, grads)
            last.update(value=value, gradient=_largest(found))
            if factor is None:
                return value, found
            weights = scipy.linalg.solve_triangular(
                factor, found[0].astype(np.float64), lower=True, check_finite=False
            )
            return value, [np.ascontiguousarray(weights), found[1]]

        bar = _progress_bar(self.verbose, self.max_epochs, "iteration", type(self).__name__)

        def record(intermediate_result):
            self.loss_curve_.append(float(intermediate_result.fun))
            bar.update()
            bar.set_postfix(loss=f"{self.loss_curve_[-1]:.4g}", refresh=False)
            # SciPy calls this after the line search, whose last evaluation is this point
            if last["value"] == intermediate_result.fun and last["gradient"] <= self.tol:
                last["converged"] = True
                raise StopIteration

        if factor is None:
            params = self._params()
        else:
            params = [np.ascontiguousarray(factor.T @ self.coefs_[0]), self.intercepts_[0]]
        with bar:
            result = self.optimizer_.minimize(params, loss_and_grads, callback=record)
        if factor is not None:
            self.coefs_[0][...] = scipy.linalg.solve_triangular(
                factor, params[0], lower=True, trans="T", check_finite=False
            )
        self.n_epochs_ = int(result.nit)
        if last.get("converged"):
            return
        # the test at the point SciPy returns (the line search may have tried others after it;
        # a start that already meets the test ends at iteration 0 on a failed line search)
        last["gradient"] = self._largest_gradient(X, y, work, grads)
        if last["gradient"] <= self.tol:
            return
        if result.status == 1:
            reason = f"stopped after max_epochs={self.max_epochs} iterations"
            advice = "raise max_epochs"
        else:
            reason = f"stopped after {self.n_epochs_} iterations: {result.message}"
            advice = "the loss no longer decreases at this floating-point precision"
        warnings.warn(
            f"NeuralNetClassifier (lbfgs) {reason} without converging (largest gradient "
            f"component {last['gradient']:.3g} > tol={self.tol}); {advice}.",
            ConvergenceWarning,
            stacklevel=4,
        )
