"""LinearClassifier and the network's linear L-BFGS path: the solutions of scikit-learn's linear
models, the preconditioned L-BFGS, its stopping rule."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from models import LinearClassifier, NeuralNetClassifier
from models.network import _Workspace

pytestmark = pytest.mark.blas  # float32 BLAS results: rerun under another kernel in CI


@pytest.fixture(scope="module")
def standardised_digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:600]), y[:600]


@parametrize_with_checks(
    # float64: scikit-learn's checks compare outputs at rtol 1e-7, below float32's epsilon
    [
        LinearClassifier(dtype=np.float64),
        LinearClassifier("softmax", C=0.1, dtype=np.float64),
    ],
    # Every check passes: no expected failures to justify.
    expected_failed_checks=lambda estimator: {},
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _svm_objective(clf, X, y, C):
    """LinearSVC's primal objective, summed over the classes (intercepts not penalised)."""
    targets = np.where(y[:, None] == clf.classes_, 1.0, -1.0)
    margins = np.maximum(0.0, 1.0 - targets * (X @ clf.coef_.T + clf.intercept_))
    return 0.5 * float((clf.coef_**2).sum()) + C * float((margins**2).sum())


@pytest.mark.parametrize("C", [1e-3, 0.1])
def test_squared_hinge_is_linearsvc(standardised_digits, C):
    # liblinear penalises the intercept as a feature of value intercept_scaling: large, that
    # penalty vanishes and its solution is ours
    from sklearn.svm import LinearSVC

    X, y = standardised_digits
    svc = LinearSVC(C=C, dual=False, tol=1e-12, intercept_scaling=1000, max_iter=10_000)
    svc.fit(X, y)
    ours = LinearClassifier(C=C, tol=1e-10, max_iter=5000, dtype=np.float64).fit(X, y)
    # the objective is flat along some directions at large C: the minima agree to 1e-6,
    # the weights to 1e-3 of their scale
    assert _svm_objective(ours, X, y, C) <= _svm_objective(svc, X, y, C) * (1 + 1e-6)
    assert_allclose(ours.coef_, svc.coef_, atol=1e-3 * np.abs(svc.coef_).max())
    assert_allclose(ours.intercept_, svc.intercept_, atol=2e-3)
    assert_array_equal(ours.predict(X), svc.predict(X))


def _softmax_objective(clf, X, y, C):
    """LogisticRegression's objective (multinomial, L2, intercepts not penalised)."""
    scores = X @ clf.coef_.T + clf.intercept_
    scores -= scores.max(axis=1, keepdims=True)
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return 0.5 * float((clf.coef_**2).sum()) - C * float(log_p[np.arange(len(y)), y].sum())


@pytest.mark.parametrize("C", [1e-3, 0.1])
def test_softmax_is_logistic_regression(standardised_digits, C):
    from sklearn.linear_model import LogisticRegression

    X, y = standardised_digits
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=20_000).fit(X, y)
    ours = LinearClassifier("softmax", C=C, tol=1e-10, max_iter=5000, dtype=np.float64)
    ours.fit(X, y)
    assert _softmax_objective(ours, X, y, C) == pytest.approx(
        _softmax_objective(reference, X, y, C), rel=1e-5
    )
    assert_allclose(ours.coef_, reference.coef_, atol=1e-3 * np.abs(reference.coef_).max())
    # the softmax is unchanged by a constant added to every intercept: compare them centred
    centred = ours.intercept_ - ours.intercept_.mean()
    assert_allclose(centred, reference.intercept_ - reference.intercept_.mean(), atol=1e-3)
    assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-3)
    assert not hasattr(LinearClassifier(), "predict_proba")


def test_C_is_scikit_learns_alpha_per_sample(standardised_digits):
    X, y = standardised_digits
    clf = LinearClassifier(C=0.05).fit(X, y)
    assert clf.network_.alpha == pytest.approx(1 / (2 * 0.05 * len(X)))
    assert clf.n_iter_ == clf.network_.n_epochs_ > 0
    assert_array_equal(clf.coef_, clf.network_.coefs_[0].T)


def _gradient(clf, X, y):
    """Largest component of the gradient of the mean objective at the fitted parameters."""
    _, index = np.unique(y, return_inverse=True)
    work = _Workspace(len(X), clf.coefs_, clf.dtype)
    grads = [np.empty_like(p) for p in clf._params()]
    _, grads = clf._forward_backward(np.asarray(X, clf.dtype), index, work, grads)
    return max(float(np.abs(g).max()) for g in grads)


@pytest.mark.parametrize("loss", ["squared_hinge", "softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lbfgs_stops_when_the_gradient_is_within_tol(standardised_digits, loss, dtype):
    X, y = standardised_digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # converged: no warning
        clf = NeuralNetClassifier(
            (),
            loss=loss,
            optimizer="lbfgs",
            init="least_squares",
            alpha=1e-3,
            tol=1e-4,
            dtype=dtype,
        ).fit(X, y)
    assert _gradient(clf, X, y) <= 1e-4
    assert len(clf.loss_curve_) == clf.n_epochs_ < clf.max_epochs


@pytest.mark.parametrize("loss", ["squared_hinge", "softmax"])
def test_preconditioning_reaches_the_same_minimum_in_fewer_iterations(loss):
    # correlated features, as pixels are, and classes that overlap (30% of the labels drawn at
    # random): plain L-BFGS crawls along the narrow valleys that the Cholesky factor of the
    # ridge start's system whitens away
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((2000, 8))
    X = latent @ rng.standard_normal((8, 60)) + 0.05 * rng.standard_normal((2000, 60))
    y = (latent[:, :3] > 0) @ np.array([1, 2, 4])  # 8 classes
    y = np.where(rng.random(2000) < 0.3, rng.integers(0, 8, 2000), y)
    X = StandardScaler().fit_transform(X)
    kwargs = dict(
        loss=loss, optimizer="lbfgs", alpha=1e-4, tol=1e-7, max_epochs=20_000, dtype=np.float64
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        plain = NeuralNetClassifier((), random_state=0, **kwargs).fit(X, y)
        warm = NeuralNetClassifier((), init="least_squares", **kwargs).fit(X, y)
    assert warm.n_epochs_ * 4 < plain.n_epochs_
    assert warm.loss_curve_[-1] <= plain.loss_curve_[-1] * (1 + 1e-6)
    assert warm.loss_curve_[-1] == pytest.approx(plain.loss_curve_[-1], rel=1e-5)
    # (plain L-BFGS ends on SciPy's relative-reduction test, a little short of the minimum;
    # softmax scores are defined up to a constant per sample: compare probabilities)
    outputs = "predict_proba" if loss == "softmax" else "decision_function"
    assert_allclose(getattr(warm, outputs)(X), getattr(plain, outputs)(X), atol=1e-2)


def test_lbfgs_warns_when_it_runs_out_of_iterations(standardised_digits):
    X, y = standardised_digits
    clf = NeuralNetClassifier(
        (), loss="squared_hinge", optimizer="lbfgs", alpha=1e-4, max_epochs=3, random_state=0
    )
    with pytest.warns(ConvergenceWarning) as caught:
        clf.fit(X, y)
    message = str(caught[0].message)
    assert message.startswith(
        "NeuralNetClassifier (lbfgs) stopped after max_epochs=3 iterations without "
        "converging (largest gradient component "
    )
    assert message.endswith("> tol=0.0001); raise max_epochs.")
    gradient = float(re.search(r"component ([0-9.e-]+) >", message).group(1))
    assert gradient == pytest.approx(_gradient(clf, X, y), rel=1e-2)
    assert clf.n_epochs_ == 3


def test_linear_classifier_on_digits():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for loss in ["squared_hinge", "softmax"]:
        clf = LinearClassifier(loss, C=0.01).fit(X[:1300], y[:1300])
        assert clf.score(X[1300:], y[1300:]) >= 0.9


@pytest.fixture(scope="module")
def wide_problem():
    # fewer samples than features, as HOG vectors of small images are: Newton's method
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((300, 6))
    X = latent @ rng.standard_normal((6, 400)) + 0.5 * rng.standard_normal((300, 400))
    y = (latent[:, :2] > 0) @ np.array([1, 2])  # 4 classes
    y = np.where(rng.random(300) < 0.1, rng.integers(0, 4, 300), y)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("C", [1e-3, 0.1, 10.0])
def test_newton_reaches_the_minimum_of_linearsvc_and_of_lbfgs(wide_problem, C, monkeypatch):
    from sklearn.svm import LinearSVC

    import models.linear

    X, y = wide_problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # converged: no warning
        newton = LinearClassifier(C=C, tol=1e-8, dtype=np.float64).fit(X, y)
    assert newton.n_iter_ <= 30  # steps, where L-BFGS takes hundreds of iterations
    # liblinear's primal solver (its own Newton method) converges here in at most a second or
    # two; the dual one, with a barely penalised intercept, still misses the minimum after
    # 100,000 iterations and took a minute per C
    svc = LinearSVC(C=C, dual=False, tol=1e-12, intercept_scaling=1000, max_iter=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svc.fit(X, y)
    monkeypatch.setattr(models.linear, "_NEWTON_MAX_SAMPLES", 0)  # the L-BFGS path instead
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lbfgs = LinearClassifier(C=C, tol=1e-10, max_iter=20_000, dtype=np.float64).fit(X, y)
    assert lbfgs.n_iter_ > newton.n_iter_
    best = min(_svm_objective(svc, X, y, C), _svm_objective(lbfgs, X, y, C))
    assert _svm_objective(newton, X, y, C) <= best * (1 + 1e-9)
    # and liblinear, an independent solver, finds the same minimum
    assert _svm_objective(svc, X, y, C) == pytest.approx(_svm_objective(newton, X, y, C), rel=1e-5)
    assert_allclose(newton.coef_, lbfgs.coef_, atol=1e-4 * np.abs(lbfgs.coef_).max())
    assert_array_equal(newton.predict(X), lbfgs.predict(X))
    # the curve is the mean objective after each step: decreasing, ending at the minimum
    curve = np.array(newton.network_.loss_curve_)
    assert len(curve) == newton.n_iter_ and np.all(np.diff(curve) <= 1e-12 * curve[0])
    assert curve[-1] * C * len(X) == pytest.approx(_svm_objective(newton, X, y, C), rel=1e-9)


def test_newton_warns_when_it_runs_out_of_steps(wide_problem):
    X, y = wide_problem
    with pytest.warns(ConvergenceWarning, match=r"\(Newton\) stopped after 2 steps .*max_iter"):
        clf = LinearClassifier(C=10.0, max_iter=2).fit(X, y)
    assert clf.n_iter_ == 2


def test_newton_reuses_the_gram_matrix_of_the_same_samples_only(wide_problem):
    import models.linear

    X, y = wide_problem
    models.linear.clear_kernel_cache()
    first = LinearClassifier(C=0.01, dtype=np.float64).fit(X, y)
    (kernel,) = models.linear._kernels.values()
    again = LinearClassifier(C=0.01, dtype=np.float64).fit(X.copy(), y)
    assert list(models.linear._kernels.values()) == [kernel]  # found by content, not identity
    assert_array_equal(again.coef_, first.coef_)
    changed = X.copy()
    changed[0, 0] += 1.0
    LinearClassifier(C=0.01, dtype=np.float64).fit(changed, y)
    assert len(models.linear._kernels) == 2
    models.linear.clear_kernel_cache()
    assert not models.linear._kernels
    assert_array_equal(LinearClassifier(C=0.01, dtype=np.float64).fit(X, y).coef_, first.coef_)


def _piecewise_quadratic(s, a, c, g, h, C):
    s = np.asarray(s, dtype=float)[..., None]
    return (a * s + c * s**2 / 2)[..., 0] + C * (np.maximum(0, g - s * h) ** 2).sum(-1)


def test_exact_step_minimises_the_piecewise_quadratic():
    from models.linear import _exact_step

    rng = np.random.default_rng(2)
    grid = np.linspace(0, 5, 100_001)
    steps = []
    for _ in range(30):
        g, h = rng.standard_normal(40), rng.standard_normal(40)
        c, C = rng.uniform(0.1, 2), rng.uniform(0.1, 3)
        a = rng.uniform(-3, 1)
        step = _exact_step(a, c, g, h, C)
        assert 0 <= step < 5
        values = _piecewise_quadratic(grid, a, c, g, h, C)
        assert _piecewise_quadratic(step, a, c, g, h, C) <= values.min() + 1e-9
        steps.append(step)
    assert 0 in steps and np.mean(np.array(steps) > 0) > 0.5  # both cases were drawn


def test_newton_steps_through_a_point_where_every_margin_is_met(monkeypatch):
    # random labels on fewer samples than twice the features are separable: at C = 1e6 the
    # line search once lands where no margin is below 1 (no active rows), from which the
    # step is towards w = 0; it used to divide 0 by 0 and return NaN weights without a warning
    import models.linear

    rng = np.random.default_rng(1)
    rng.standard_normal((300, 400)), rng.integers(0, 4, 300)
    X = StandardScaler().fit_transform(rng.standard_normal((300, 160)))
    y = rng.integers(0, 4, 300)
    seen = []
    step = models.linear._exact_step

    def spy(a, c, g, h, C):
        seen.append(int((g > 0).sum()))  # active rows at the point the step starts from
        return step(a, c, g, h, C)

    monkeypatch.setattr(models.linear, "_exact_step", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither a ConvergenceWarning nor a division by 0
        clf = LinearClassifier(C=1e6, dtype=np.float64).fit(X, y)
    assert 0 in seen
    assert np.isfinite(clf.coef_).all() and clf.score(X, y) == 1.0
    assert _gradient(clf.network_, X, y) <= clf.tol


def test_newton_falls_back_to_lbfgs_when_a_factorisation_fails(wide_problem, monkeypatch):
    import scipy.linalg

    import models.linear

    X, y = wide_problem
    monkeypatch.setattr(models.linear, "_NEWTON_MAX_SAMPLES", 0)
    lbfgs = LinearClassifier(C=0.1).fit(X, y)
    monkeypatch.setattr(models.linear, "_NEWTON_MAX_SAMPLES", 2048)

    def fails(*args, **kwargs):
        raise scipy.linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(models.linear.scipy.linalg, "cho_factor", fails)
    clf = LinearClassifier(C=0.1).fit(X, y)
    assert_array_equal(clf.coef_, lbfgs.coef_)
    assert clf.n_iter_ == lbfgs.n_iter_
