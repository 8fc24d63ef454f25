"""Linear classifiers with scikit-learn's ``C``, solved by the network's preconditioned L-BFGS.

:class:`LinearClassifier` is :class:`~models.NeuralNetClassifier` without hidden layers,
parametrised as scikit-learn's linear models are: ``loss="squared_hinge"`` has the objective of
``LinearSVC`` (one-vs-rest L2-SVM) and ``loss="softmax"`` that of ``LogisticRegression``
(multinomial), both with their ``C``, so that a grid over ``clf__C`` means what it means for
them. It is trained to convergence, fast: see :class:`LinearClassifier`.
"""

import collections
import hashlib
import math
import threading
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ._param import Interval, Options, StrOptions, _fit_context, validate_data
from .network import _GRAM_CHUNK, NeuralNetClassifier, _cholesky

__all__ = ["LinearClassifier", "clear_kernel_cache"]

# X with fewer values than this is fitted on one BLAS thread
_SMALL = 4_000_000

# C="auto": the path of C values tried, a factor sqrt(10) apart
_AUTO_CS = tuple(10.0 ** (k / 2) for k in range(-12, 3))  # 1e-6 ... 10

# The squared hinge on at most this many samples, and at most twice as many samples as
# features, is solved by Newton's method in the samples x samples form (see _newton_l2svm)
_NEWTON_MAX_SAMPLES = 2048
_NEWTON_COLUMNS = 2048  # columns of X converted to float64 at a time
# Gram matrices of recent fits kept for fits on the same X (the C values of a grid search
# fold): at most this many bytes, the least recently used dropped first
_KERNEL_CACHE_BYTES = 256 << 20
_kernels = collections.OrderedDict()
_kernels_lock = threading.Lock()


def _has_proba(estimator):
    return estimator.loss == "softmax"


class LinearClassifier(ClassifierMixin, BaseEstimator):
    """Linear SVM (squared hinge) or softmax regression, with scikit-learn's ``C``.

    Minimises, over the weights ``w_c`` and intercepts ``b_c`` of every class ``c``,

    * ``loss="squared_hinge"``, for each class against the rest (``t_ic = +1`` when
      ``y_i = c``, else ``-1``): ``1/2 ||w_c||^2 + C sum_i max(0, 1 - t_ic (x_i w_c + b_c))^2``,
      the primal objective of :class:`sklearn.svm.LinearSVC` (the L2-SVM of Coates, Lee & Ng
      2011);
    * ``loss="softmax"``: ``1/2 sum_c ||w_c||^2 - C sum_i log p_{i, y_i}``, ``p_i`` the softmax
      of the scores ``x_i w_c + b_c``, the objective of
      :class:`sklearn.linear_model.LogisticRegression` (multinomial, ``penalty="l2"``).

    The intercepts are not penalised (``LinearSVC`` penalises its intercept as a feature of
    value ``intercept_scaling``; as that value grows, its solution tends to this one).

    Divided by ``C n``, either objective is the mean loss plus ``alpha ||W||^2`` with
    ``alpha = 1 / (2 C n)``: the objective of
    ``NeuralNetClassifier(hidden_layer_sizes=(), loss=loss, alpha=alpha)``, which fits it:

    1. start from the ridge regression of the +-1 targets with the same penalty
       (``init="least_squares"``): one Gram matrix, one Cholesky factorisation;
    2. run full-batch L-BFGS (SciPy) in the coordinates that this factorisation whitens, in
       which the Hessian of the loss is close to the identity, until the largest component of
       the gradient of the mean objective is at most ``tol`` (as ``LogisticRegression``'s
       lbfgs solver). A fit that ends otherwise warns ``ConvergenceWarning``.

    On CIFAR-10 (40,000 images, standardised features) this takes 8 to 45 iterations where
    plain L-BFGS needs hundreds, and liblinear's dual coordinate descent more than ``max_iter``.

    The squared hinge on few samples (at most 2,048, and at most twice as many as features,
    as HOG vectors of small images are) is instead solved exactly by Newton's method in the
    samples x samples form ([3]_, [4]_): each step solves the least-squares problem of the
    rows inside the margin (one Cholesky factorisation of their Gram matrix) and moves to it
    by an exact line search, until the step leaves that set of rows unchanged; the gradient
    is then checked against ``tol`` as above. On scikit-learn's digits as HOG vectors (1,437
    x 1,764) that is 6 to 16 steps and 2 to 3 times faster than L-BFGS. The Gram matrix is
    kept (up to 256 MB, see :func:`clear_kernel_cache`) for the next fit on the same
    samples, such as the other ``C`` values of a grid search.

    ``C="auto"`` chooses ``C`` on held-out training data: a stratified ``validation_fraction``
    of the samples is set aside, the model is fitted on the rest for ``C`` = 1e-6, 3.2e-6,
    1e-5, ... 10 (a factor sqrt(10) apart) in turn, each fit starting from the previous
    solution, until the accuracy on the held-out samples has not improved for
    ``n_iter_no_change`` values; the best ``C`` (the smallest of equals) is then fitted on all
    the samples, starting from its solution on the split. The right ``C`` differs between
    collections far more than their sizes explain: on raw pixels, 1e-3 for CIFAR-10's
    softmax but at least 1e-2 for scikit-learn's digits.

    Parameters
    ----------
    loss : {"squared_hinge", "softmax"}, default="squared_hinge"
        One-vs-rest L2-SVM, or multinomial logistic regression.
    C : float or "auto", default=1.0
        Inverse of the regularisation strength, as in ``LinearSVC`` and
        ``LogisticRegression``: the weight of the summed loss against ``1/2 ||W||^2``.
        "auto": chosen on held-out training data (see above).
    tol : float, default=1e-4
        Stop when no component of the gradient of the mean objective (the objective divided
        by ``C n``) exceeds it.
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations (of each fit of the path with ``C="auto"``).
    validation_fraction : float, default=0.1
        Share of the samples held out to choose ``C`` (``C="auto"`` only).
    n_iter_no_change : int, default=2
        Values of ``C`` without a better validation accuracy that end the path.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split (``C="auto"`` only).
    dtype : {np.float32, np.float64}, default=np.float32
        Floating type of the parameters and of the products with ``X`` (the ridge start and
        the preconditioner are computed in float64).
    verbose : bool or int, default=False
        Print the loss after each iteration.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (n_classes, n_features)
        Weights, one row per class (for two classes too, unlike ``LinearSVC``: the scores of
        both classes are fitted; ``decision_function`` is their difference).
    intercept_ : ndarray of shape (n_classes,)
        Intercepts.
    n_iter_ : int
        L-BFGS iterations (or Newton steps) of the final fit (on all the samples).
    C_ : float
        The ``C`` of the final fit: ``C``, or the one chosen by ``C="auto"``.
    path_ : list of tuple or None
        ``C="auto"``: ``(C, validation accuracy, iterations, converged)`` of each fit on the
        split, in order; else None.
    network_ : NeuralNetClassifier
        The fitted network without hidden layers that holds the solution (its ``alpha``,
        ``loss_curve_``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit, when they are all strings.

    See Also
    --------
    sklearn.svm.LinearSVC : the same L2-SVM by liblinear (penalised intercept).
    sklearn.linear_model.LogisticRegression : the same softmax regression.
    models.NeuralNetClassifier : the network this is a parametrisation of.

    References
    ----------
    .. [1] D. C. Liu, J. Nocedal, "On the limited memory BFGS method for large scale
       optimization", Mathematical Programming 45, 503-528 (1989),
       :doi:`10.1007/BF01589116`.
    .. [2] A. Coates, H. Lee, A. Y. Ng, "An Analysis of Single-Layer Networks in
       Unsupervised Feature Learning", AISTATS 2011, PMLR 15:215-223.
    .. [3] S. S. Keerthi, D. DeCoste, "A Modified Finite Newton Method for Fast Solution
       of Large Scale Linear SVMs", JMLR 6, 341-361 (2005).
    .. [4] O. Chapelle, "Training a Support Vector Machine in the Primal", Neural
       Computation 19(5), 1155-1178 (2007), :doi:`10.1162/neco.2007.19.5.1155`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from models import LinearClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LinearClassifier(C=0.01).fit(X[:1500], y[:1500])
    >>> round(clf.score(X[1500:], y[1500:]), 2) > 0.85
    True
    >>> auto = LinearClassifier(C="auto", random_state=0).fit(X[:1500], y[:1500])
    >>> auto.C_ in [C for C, *_ in auto.path_]
    True
    """

    _parameter_constraints = {
        "loss": [StrOptions({"squared_hinge", "softmax"})],
        "C": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": [Options(type, {np.float32, np.float64})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        loss="squared_hinge",
        *,
        C=1.0,
        tol=1e-4,
        max_iter=1000,
        validation_fraction=0.1,
        n_iter_no_change=2,
        random_state=None,
        dtype=np.float32,
        verbose=False,
    ):
        self.loss = loss
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the linear model to ``X`` (n_samples, n_features) and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : LinearClassifier
        """
        X, y = validate_data(self, X, y, dtype=self.dtype, order="C")
        check_classification_targets(y)
        classes, index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"LinearClassifier needs samples of at least 2 classes; got 1 class "
                f"({classes[0]!r})."
            )
        network = self._network(X.shape[1], classes)
        newton = self.loss == "squared_hinge" and len(X) <= min(_NEWTON_MAX_SAMPLES, 2 * X.shape[1])
        # Small products run faster on one BLAS thread: on 2 busy cores, softmax on digits'
        # 1,437 x 64 pixels fitted in 0.7 s on one thread and 5 s on two. So do Newton's
        # factorisations of at most 2,048 rows: on 1,600 CIFAR-10 pixel vectors, 1.4 s on one
        # thread and 15.7 s on two busy cores.
        threads = 1 if X.size < _SMALL or newton else None
        with threadpool_limits(limits=threads, user_api="blas"):
            if self.C == "auto":
                start, whole = self._choose_C(network, X, index, newton)
            else:
                self.C_, self.path_, start = self.C, None, None
                whole = None if newton else _Statistics.of_all(X, index, len(classes))
            if newton:
                self._solve_newton(network, X, index, _Kernel.of(X), self.C_)
            else:
                self._solve(network, X, index, whole, self.C_, start)
        self.network_ = network
        self.classes_ = classes
        self.coef_ = network.coefs_[0].T
        self.intercept_ = network.intercepts_[0]
        self.n_iter_ = network.n_epochs_
        return self

    def _network(self, n_features, classes):
        """The network that holds and fits the parameters, set up for ``_fit_lbfgs``."""
        network = NeuralNetClassifier(
            hidden_layer_sizes=(),
            loss=self.loss,
            optimizer="lbfgs",
            init="least_squares",
            max_epochs=self.max_iter,
            tol=self.tol,
            dtype=self.dtype,
            verbose=self.verbose,
        )
        network.classes_ = classes
        network._rng = check_random_state(0)  # (not used: no random initialisation)
        network._start(n_features)
        network.n_features_in_ = n_features
        return network

    def _solve(self, network, X, index, statistics, C, start):
        """Minimise the objective of ``C`` on ``X`` by L-BFGS from ``start`` (weights,
        intercepts) or from the ridge solution, preconditioned by the ridge system; with
        fewer than half as many samples as features (``statistics`` None), unpreconditioned
        from the network's own least-squares start."""
        network.alpha = 1.0 / (2.0 * C * len(X))
        network.loss_curve_ = []
        if statistics is None:
            if start is None:
                network._least_squares_start(X, index)
        else:
            factor, ridge = statistics.ridge(network.alpha)
            if factor is not None:
                network._preconditioner = factor
            start = ridge if start is None else start
        if start is not None:
            network.coefs_[0][...] = start[0]
            network.intercepts_[0][...] = start[1]
        network._fit_lbfgs(X, index)

    def _solve_newton(self, network, X, index, kernel, C):
        """Minimise the squared hinge objective of ``C`` on ``X`` exactly, by Newton's method
        on ``kernel`` (the centred samples x samples Gram matrix of ``X``), and check the
        gradient of the mean objective at the solution against ``tol`` as L-BFGS does."""
        network.alpha = 1.0 / (2.0 * C * len(X))
        targets = np.full((len(X), len(network.classes_)), -1.0)
        targets[np.arange(len(X)), index] = 1.0
        try:
            beta, b, steps, curve = _newton_l2svm(kernel.gram, targets, C, self.max_iter)
        except np.linalg.LinAlgError:  # a system too ill-conditioned to factorise: L-BFGS
            statistics = _Statistics.of_all(X, index, len(network.classes_))
            return self._solve(network, X, index, statistics, C, None)
        W = kernel.weights(X, beta)
        network.coefs_[0][...] = W
        network.intercepts_[0][...] = b - kernel.shift @ W
        network.loss_curve_ = [value / (C * len(X)) for value in curve]
        network.n_epochs_ = steps
        gradient = network._largest_gradient(X, index)
        if steps >= self.max_iter or not gradient <= self.tol:  # (NaN too)
            warnings.warn(
                f"LinearClassifier (Newton) stopped after {steps} steps without converging "
                f"(largest gradient component {gradient:.3g} > tol={self.tol}); "
                + ("raise max_iter." if steps >= self.max_iter else "use dtype=np.float64."),
                ConvergenceWarning,
                stacklevel=3,
            )

    def _choose_C(self, network, X, index, newton):
        """``C="auto"``: fit the path of C on a split of the training data, warm-started,
        stop once the validation accuracy has not improved for ``n_iter_no_change`` values,
        and set ``C_`` and ``path_``. Returns the weights and intercepts of the chosen C, and
        the statistics of all the rows (None with Newton's method, which starts from zero
        on the samples x samples matrix of the training rows)."""
        n_val = math.ceil(self.validation_fraction * len(X))
        n_classes = len(network.classes_)
        can_stratify = min(n_val, len(X) - n_val) >= n_classes and np.bincount(index).min() >= 2
        train, _ = train_test_split(
            np.arange(len(X)),
            test_size=self.validation_fraction,
            stratify=index if can_stratify else None,
            random_state=self.random_state,
        )
        in_train = np.zeros(len(X), dtype=bool)
        in_train[train] = True
        X_train, y_train = X[in_train], index[in_train]
        X_val, y_val = X[~in_train], index[~in_train]
        if newton:
            statistics, kernel = None, _Kernel.of(X_train)
        else:
            statistics, rest = _Statistics.of_rows(X, index, n_classes, in_train)
        self.path_, best, start, since_best = [], None, None, 0
        for C in _AUTO_CS:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if newton:
                    self._solve_newton(network, X_train, y_train, kernel, C)
                else:
                    self._solve(network, X_train, y_train, statistics, C, start)
            start = (network.coefs_[0].copy(), network.intercepts_[0].copy())
            score = float(np.mean(network.predict(X_val) == y_val))
            converged = not any(issubclass(w.category, Warning) for w in caught)
            self.path_.append((C, score, network.n_epochs_, converged))
            if best is None or score > best[1]:
                best, since_best = (C, score, start), 0
            else:
                since_best += 1
                if since_best >= self.n_iter_no_change:
                    break
        self.C_ = best[0]
        return best[2], None if statistics is None else statistics + rest

    def _validated(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=self.dtype, order="C", reset=False)

    def decision_function(self, X):
        """Scores ``X W + b``: (n_samples, n_classes), or (n_samples,) for two classes (the
        score of ``classes_[1]`` minus that of ``classes_[0]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
        """
        X = self._validated(X)
        return self.network_.decision_function(X)

    def predict(self, X):
        """Class of the highest score for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._validated(X)
        return self.network_.predict(X)

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Softmax probabilities (n_samples, n_classes); only with ``loss="softmax"``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._validated(X)
        return self.network_.predict_proba(X)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without underflow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._validated(X)
        return self.network_.predict_log_proba(X)


class _Statistics:
    """Sums over rows of ``X`` that give the ridge start and the preconditioner of every
    ``alpha``: the centred Gram matrix and the centred products with the +-1 targets."""

    def __init__(self, shift, n, gram, right, sums, target_sums):
        # sums of x' = x - shift (a shift common to all the rows, so that large means do not
        # cancel in float32), of x' x'^T, x' t^T and of the targets t, over n rows
        self.shift, self.n = shift, n
        self.gram, self.right, self.sums, self.target_sums = gram, right, sums, target_sums

    @classmethod
    def of_rows(cls, X, index, n_classes, rows):
        """The statistics of the rows marked by ``rows`` and of the others, in one pass over
        ``X`` in blocks (float32 products accumulated in float64); ``(None, None)`` when there
        are fewer than half as many rows as features (the ridge start then takes the samples
        x samples form, and there is no preconditioner)."""
        n, d = X.shape
        if 2 * int(rows.sum()) < d:
            return None, None
        shift = X.mean(axis=0, dtype=np.float64)
        shift32 = shift.astype(X.dtype)
        parts = []
        for mask in (rows, ~rows):
            part = [np.zeros((d, d)), np.zeros((d, n_classes)), np.zeros(d), np.zeros(n_classes)]
            parts.append((mask, part))
        for start in range(0, n, _GRAM_CHUNK):
            block = X[start : start + _GRAM_CHUNK] - shift32
            labels = index[start : start + _GRAM_CHUNK]
            for mask, (gram, right, sums, target_sums) in parts:
                keep = mask[start : start + _GRAM_CHUNK]
                if not keep.any():
                    continue
                part = block[keep] if not keep.all() else block
                targets = np.full((len(part), n_classes), -1.0, dtype=X.dtype)
                targets[np.arange(len(part)), labels[keep]] = 1.0
                gram += part.T @ part
                right += part.T @ targets
                sums += part.sum(axis=0, dtype=np.float64)
                target_sums += targets.sum(axis=0, dtype=np.float64)
        return tuple(cls(shift, int(mask.sum()), *part) for mask, part in parts)

    @classmethod
    def of_all(cls, X, index, n_classes):
        """The statistics of all the rows of ``X`` (None, as ``of_rows``, for too few rows)."""
        return cls.of_rows(X, index, n_classes, np.ones(len(X), dtype=bool))[0]

    def __add__(self, other):
        return _Statistics(
            self.shift,
            self.n + other.n,
            self.gram + other.gram,
            self.right + other.right,
            self.sums + other.sums,
            self.target_sums + other.target_sums,
        )

    def ridge(self, alpha):
        """Cholesky factor of ``Xc^T Xc / n + alpha I`` (None if it is singular) and the
        ridge solution ``(W, b)`` of the +-1 targets."""
        offset, target_mean = self.sums / self.n, self.target_sums / self.n
        # centred about the rows' own mean: sum (x - m)(x - m)^T = sum x' x'^T - n o o^T
        system = (self.gram - self.n * np.outer(offset, offset)) / self.n
        system[np.diag_indices_from(system)] += alpha
        right = (self.right - self.n * np.outer(offset, target_mean)) / self.n
        factor = _cholesky(system)
        if factor is None:  # alpha tiny and X rank-deficient
            W = scipy.linalg.lstsq(system, right)[0]
        else:
            W = scipy.linalg.cho_solve((factor, True), right)
        return factor, (W, target_mean - (self.shift + offset) @ W)


def clear_kernel_cache():
    """Forget the Gram matrices that :class:`LinearClassifier` keeps for fits on the same
    samples (at most 256 MB; see ``_Kernel.of``).

    Examples
    --------
    >>> import numpy as np
    >>> from models.linear import LinearClassifier, clear_kernel_cache
    >>> X, y = np.random.default_rng(0).standard_normal((40, 50)), np.arange(40) % 2
    >>> first = LinearClassifier(C=0.1).fit(X, y)  # Newton's method: 40 samples, 50 features
    >>> clear_kernel_cache()
    >>> bool((LinearClassifier(C=0.1).fit(X, y).coef_ == first.coef_).all())
    True
    """
    with _kernels_lock:
        _kernels.clear()


class _Kernel:
    """The centred samples x samples Gram matrix ``Xc Xc^T`` (float64) of Newton's method,
    ``Xc = X - shift`` with ``shift`` the column means, and the weights ``Xc^T beta`` of a
    solution; ``X`` is converted to float64 a block of columns at a time.

    ``_Kernel.of(X)`` returns the matrix of an earlier call on the same values (compared by
    a SHA-256 digest of ``X``'s bytes, dtype and shape) when it is still in the cache: a
    grid over ``C`` fits every value on the same folds, and the matrix costs more than the
    rest of a fit. The cache holds at most ``_KERNEL_CACHE_BYTES``.
    """

    @classmethod
    def of(cls, X):
        digest = hashlib.sha256(f"{X.dtype.str}{X.shape}".encode())
        digest.update(memoryview(np.ascontiguousarray(X).reshape(-1)).cast("B"))
        key = digest.hexdigest()
        with _kernels_lock:
            if key in _kernels:
                _kernels.move_to_end(key)
                return _kernels[key]
        kernel = cls(X)
        with _kernels_lock:
            _kernels[key] = kernel
            while sum(k.gram.nbytes for k in _kernels.values()) > _KERNEL_CACHE_BYTES:
                _kernels.popitem(last=False)
        return kernel

    def __init__(self, X):
        self.shift = X.mean(axis=0, dtype=np.float64)
        self.gram = np.zeros((len(X), len(X)))
        for block, _ in self._centred_blocks(X):
            self.gram += block @ block.T

    def _centred_blocks(self, X):
        for start in range(0, X.shape[1], _NEWTON_COLUMNS):
            columns = slice(start, start + _NEWTON_COLUMNS)
            yield X[:, columns].astype(np.float64) - self.shift[columns], columns

    def weights(self, X, beta):
        """``Xc^T beta``: the weights (n_features, n_classes) of the coefficients ``beta``."""
        W = np.empty((X.shape[1], beta.shape[1]))
        for block, columns in self._centred_blocks(X):
            W[columns] = block.T @ beta
        return W


def _newton_l2svm(gram, targets, C, max_iter):
    """Minimise ``1/2 ||w_c||^2 + C sum_i max(0, 1 - t_ic (x_i w_c + b_c))^2`` for every
    column ``c`` of ``targets`` (+-1) by the finite Newton method of Keerthi & DeCoste (2005)
    in the samples x samples form of Chapelle (2007), with ``w_c = Xc^T beta_c``.

    Each step takes the rows whose margin is below 1 (the active set ``A``), solves the
    least-squares problem on them exactly::

        (K_AA + I / (2 C)) beta_A + b 1 = t_A,    1^T beta_A = 0

    (one Cholesky factorisation of ``|A| x |A|``), and moves to it along the segment from
    the current point by an exact line search on the piecewise quadratic objective. A class
    is solved when the step leaves its active set unchanged: the least-squares solution is
    then the minimum. From zero every row is active, so the first step is the ridge
    regression of all the classes at once, with one factorisation.

    Returns ``beta`` (n, n_classes), ``b`` (n_classes,), the number of steps, and the
    objective (summed over the classes) after each step.
    """
    n, n_classes = targets.shape
    ridge = 1.0 / (2.0 * C)
    beta, b = np.zeros((n, n_classes)), np.zeros(n_classes)
    scores = np.zeros((n, n_classes))  # gram @ beta + b
    todo = list(range(n_classes))
    curve, steps = [], 0
    while todo and steps < max_iter:
        steps += 1
        if steps == 1:  # every row is active for every class: one factorisation for all
            system = gram.copy()
            system[np.diag_indices_from(system)] += ridge
            factor = scipy.linalg.cho_factor(system, lower=True, check_finite=False)
            rhs = np.column_stack([targets, np.ones(n)])
            solved = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
        for c in list(todo):
            t, o = targets[:, c], scores[:, c]
            active = t * o < 1
            rows = np.flatnonzero(active)
            if steps == 1:
                u, v = solved[:, c], solved[:, -1]
                inside = gram
            elif not len(rows):  # every margin >= 1: the minimum on no rows is w = 0
                u, v, inside = np.zeros(0), np.zeros(0), gram[rows]
            else:
                inside = gram[rows]  # (the rows of the active samples: read once)
                system = inside[:, rows]
                system[np.diag_indices_from(system)] += ridge
                factor = scipy.linalg.cho_factor(system, lower=True, check_finite=False)
                rhs = np.column_stack([t[rows], np.ones(len(rows))])
                u, v = scipy.linalg.cho_solve(factor, rhs, check_finite=False).T
            b_new = u.sum() / v.sum() if len(rows) else b[c]
            new = np.zeros(n)
            new[rows] = u - b_new * v
            o_new = new[rows] @ inside + b_new  # gram @ new, gram being symmetric
            # ||w||^2 = beta . gram beta = beta . (o - b), and likewise for the cross term
            ww, wn, nn = beta[:, c] @ (o - b[c]), new @ (o - b[c]), new @ (o_new - b_new)
            s = _exact_step(wn - ww, nn - 2 * wn + ww, 1 - t * o, t * (o_new - o), C)
            beta[:, c] += s * (new - beta[:, c])
            b[c] += s * (b_new - b[c])
            scores[:, c] = o + s * (o_new - o)
            if np.array_equal(t * scores[:, c] < 1, active):
                todo.remove(c)
        margins = np.maximum(0.0, 1.0 - targets * scores)
        norms = np.einsum("ic,ic->", beta, scores - b)
        curve.append(0.5 * float(norms) + C * float(np.einsum("ic,ic->", margins, margins)))
    return beta, b, steps, curve


def _exact_step(a, c, g, h, C):
    """The ``s >= 0`` that minimises ``a s + c s^2 / 2 + C sum_i max(0, g_i - s h_i)^2``.

    The function is convex and piecewise quadratic: its derivative is nondecreasing and
    piecewise linear, with a break where a term ``g_i - s h_i`` changes sign. The pieces are
    walked in order of their breaks to the one where the derivative reaches 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        breaks = g / h
    on = (g > 0) | ((g == 0) & (h < 0))  # the terms in the sum just after s = 0
    leave = on & (h > 0) & (breaks > 0)
    enter = ~on & (h < 0) & (breaks > 0)
    events = np.flatnonzero(leave | enter)
    events = events[np.argsort(breaks[events], kind="stable")]
    sign = np.where(leave[events], -1.0, 1.0)
    # derivative = intercept + slope * s on each piece, pieces separated by the events
    intercept = a - 2 * C * np.sum(h[on] * g[on])
    slope = c + 2 * C * np.sum(h[on] ** 2)
    weight = 2 * C * h[events] * sign
    intercepts = intercept - np.concatenate(([0.0], np.cumsum(weight * g[events])))
    slopes = slope + np.concatenate(([0.0], np.cumsum(weight * h[events])))
    at_breaks = intercepts[:-1] + slopes[:-1] * breaks[events]
    piece = int(np.argmax(at_breaks >= 0)) if np.any(at_breaks >= 0) else len(events)
    if slopes[piece] <= 0:  # a zero step: the point is already the minimum along it
        return 0.0
    return max(0.0, -intercepts[piece] / slopes[piece])
