"""Linear classifiers with scikit-learn's ``C``, solved by the network's preconditioned L-BFGS.

:class:`LinearClassifier` is :class:`~models.NeuralNetClassifier` without hidden layers,
parametrised as scikit-learn's linear models are: ``loss="squared_hinge"`` has the objective of
``LinearSVC`` (one-vs-rest L2-SVM) and ``loss="softmax"`` that of ``LogisticRegression``
(multinomial), both with their ``C``, so that a grid over ``clf__C`` means what it means for
them. It is trained to convergence, fast: see :class:`LinearClassifier`.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._param import Interval, Options, StrOptions, _fit_context
from .network import NeuralNetClassifier

__all__ = ["LinearClassifier"]


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

    On CIFAR-10 (40,000 images, standardised features) this takes 8 to 35 iterations where
    plain L-BFGS needs hundreds, and liblinear's dual coordinate descent more than ``max_iter``.

    Parameters
    ----------
    loss : {"squared_hinge", "softmax"}, default="squared_hinge"
        One-vs-rest L2-SVM, or multinomial logistic regression.
    C : float, default=1.0
        Inverse of the regularisation strength, as in ``LinearSVC`` and
        ``LogisticRegression``: the weight of the summed loss against ``1/2 ||W||^2``.
    tol : float, default=1e-4
        Stop when no component of the gradient of the mean objective (the objective divided
        by ``C n``) exceeds it.
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations.
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
        L-BFGS iterations run.
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

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from models import LinearClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LinearClassifier(C=0.01).fit(X[:1500], y[:1500])
    >>> round(clf.score(X[1500:], y[1500:]), 2) > 0.9
    True
    """

    _parameter_constraints = {
        "loss": [StrOptions({"squared_hinge", "softmax"})],
        "C": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
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
        dtype=np.float32,
        verbose=False,
    ):
        self.loss = loss
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
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
        self.network_ = NeuralNetClassifier(
            hidden_layer_sizes=(),
            loss=self.loss,
            alpha=1.0 / (2.0 * self.C * X.shape[0]),
            optimizer="lbfgs",
            init="least_squares",
            max_epochs=self.max_iter,
            tol=self.tol,
            dtype=self.dtype,
            verbose=self.verbose,
        ).fit(X, y)
        self.classes_ = self.network_.classes_
        self.coef_ = self.network_.coefs_[0].T
        self.intercept_ = self.network_.intercepts_[0]
        self.n_iter_ = self.network_.n_epochs_
        return self

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
