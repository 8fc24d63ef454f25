"""NeuralNetClassifier: gradients, scikit-learn conformance, training behaviour, digits scores."""

import inspect
import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from models import ACTIVATIONS, LOSSES, OPTIMIZERS, EarlyStoppingWarning, NeuralNetClassifier
from models.network import _Workspace

from ._numerics import float32_atol

pytestmark = [
    pytest.mark.blas,  # float32 BLAS results: rerun under another kernel in CI
    # short trainings in these tests stop on max_epochs on purpose
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


# ---------------------------------------------------------------- gradients
def _tiny(activation, loss, hidden=(3,), seed=0):
    """A float64 network initialised on 4 features and 3 classes, with its data."""
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])
    clf = NeuralNetClassifier(
        hidden,
        activation=activation,
        loss=loss,
        alpha=0.05,
        dtype=np.float64,
        random_state=seed,
        max_epochs=1,
    )
    clf.classes_ = np.arange(3)
    clf._rng = np.random.RandomState(seed)
    clf._start(4)
    for b in clf.intercepts_:  # non-zero biases, so that their gradient is tested too
        b[...] = rng.standard_normal(b.shape) * 0.5
    return clf, X, y


def _loss_and_grads(clf, X, y):
    work = _Workspace(len(X), clf.coefs_, np.float64)
    grads = [np.empty_like(p) for p in clf._params()]
    value, grads = clf._forward_backward(X, y, work, grads)
    return value, [g.copy() for g in grads]


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_backprop_matches_finite_differences(activation, loss):
    clf, X, y = _tiny(activation, loss)
    _, grads = _loss_and_grads(clf, X, y)
    h = 1e-6
    for param, grad in zip(clf._params(), grads):
        numeric = np.empty_like(param)
        for idx in np.ndindex(param.shape):
            keep = param[idx]
            param[idx] = keep + h
            up = _loss_and_grads(clf, X, y)[0]
            param[idx] = keep - h
            down = _loss_and_grads(clf, X, y)[0]
            param[idx] = keep
            numeric[idx] = (up - down) / (2 * h)
        assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_backprop_through_two_hidden_layers_and_the_penalty():
    clf, X, y = _tiny("tanh", "softmax", hidden=(3, 2))
    value, grads = _loss_and_grads(clf, X, y)
    plain = clf.set_params(alpha=0.0)
    value0, grads0 = _loss_and_grads(plain, X, y)
    penalty = sum(float((W**2).sum()) for W in clf.coefs_)
    assert value == pytest.approx(value0 + 0.05 * penalty)
    for W, g, g0 in zip(clf.coefs_, grads[::2], grads0[::2]):
        assert_allclose(g, g0 + 0.1 * W, rtol=1e-12)


# ---------------------------------------------------------------- scikit-learn conformance
@parametrize_with_checks(
    # max_epochs lowered to keep the suite fast; the checks still train to their thresholds.
    # float64: scikit-learn's checks compare outputs at rtol 1e-7, below float32's epsilon
    # (1.2e-7), so in float32 they would pass or fail by how the BLAS blocks a product on this
    # CPU; test_float32_outputs_do_not_depend_on_the_batch checks float32 with its own bound.
    [
        NeuralNetClassifier(max_epochs=60, random_state=0, dtype=np.float64),
        NeuralNetClassifier(
            (8,),
            activation="maxout",
            loss="svm",
            optimizer="lbfgs",
            max_epochs=60,
            random_state=0,
            dtype=np.float64,
        ),
        NeuralNetClassifier(
            (8,),
            activation="elu",
            optimizer="nesterov",
            schedule="cosine",
            early_stopping=True,
            max_epochs=60,
            random_state=0,
            dtype=np.float64,
        ),
        NeuralNetClassifier(
            (8,),
            activation="sigmoid",
            loss="squared_error",
            optimizer="sgdw",
            learning_rate=0.05,
            schedule="warm_restarts",
            fit_intercept=False,
            max_epochs=60,
            random_state=0,
            dtype=np.float64,
        ),
        NeuralNetClassifier(
            (),
            loss="squared_hinge",
            optimizer="lbfgs",
            init="least_squares",
            alpha=1e-3,
            max_epochs=60,
            random_state=0,
            dtype=np.float64,
        ),
    ],
    # Every check passes: no expected failures to justify.
    expected_failed_checks=lambda estimator: {},
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", EarlyStoppingWarning)
        check(estimator)


@pytest.mark.parametrize("hidden", [(), (16,), (16, 8)])
def test_float32_outputs_do_not_depend_on_the_batch(hidden):
    """Sample order and subsets change only float32 rounding, within the derived bound."""
    X, y = make_blobs(64, n_features=20, centers=3, random_state=1)
    clf = NeuralNetClassifier(hidden, max_epochs=5, random_state=0).fit(X, y)
    whole = clf.decision_function(X)
    order = np.random.default_rng(0).permutation(len(X))
    parts = np.concatenate([clf.decision_function(X[i : i + 5]) for i in range(0, len(X), 5)])
    # Each score is a chain of products whose inner dimensions add up to the reduction length;
    # the scale is that of the largest pre-activation of a layer (bounded by the scores' and
    # inputs' magnitudes times the weights', taken generously from the data).
    length = 20 + sum(hidden)
    scale = max(np.abs(whole).max(), np.abs(X).max()) * max(
        np.abs(W).sum(axis=0).max() for W in clf.coefs_
    )
    atol = float32_atol(length, scale)
    assert_allclose(clf.decision_function(X[order]), whole[order], rtol=0, atol=atol)
    assert_allclose(parts, whole, rtol=0, atol=atol)


# ---------------------------------------------------------------- behaviour
@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(300, n_features=5, centers=3, random_state=0)
    return X, y


def test_attributes_after_fit(blobs):
    X, y = blobs
    clf = NeuralNetClassifier((10,), max_epochs=30, random_state=0).fit(X, y)
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert len(clf.loss_curve_) == clf.n_epochs_ <= 30
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert [W.shape for W in clf.coefs_] == [(5, 10), (10, 3)]
    assert all(p.dtype == np.float32 for p in clf._params())
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float32 and proba.shape == (300, 3)
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba), atol=1e-5)


def test_convergence_warning_and_stopping_rule(blobs):
    X, y = blobs
    with pytest.warns(ConvergenceWarning, match="stopped after max_epochs=2 epochs"):
        NeuralNetClassifier((4,), max_epochs=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = NeuralNetClassifier((4,), tol=10.0, n_iter_no_change=3, random_state=0).fit(X, y)
        # a cosine schedule ends at learning rate 0: done by design, no warning
        NeuralNetClassifier((4,), max_epochs=2, schedule="cosine", random_state=0).fit(X, y)
    assert clf.n_epochs_ == 4  # the first epoch improves on +inf, the next 3 do not by 10


def test_early_stopping_keeps_the_best_parameters(blobs):
    X, y = blobs
    kw = {
        "hidden_layer_sizes": (10,),
        "early_stopping": True,
        "validation_fraction": 0.2,
        "n_iter_no_change": 5,
        "random_state": 0,
    }
    with pytest.warns(EarlyStoppingWarning) as caught:
        clf = NeuralNetClassifier(max_epochs=100, **kw).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_epochs_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    scores = clf.validation_scores_
    first_best = int(np.argmax(scores)) + 1
    best_epoch = len(scores) - int(np.argmax(scores[::-1]))  # ties: the later epoch is kept
    assert clf.n_epochs_ == first_best + 5  # stopped 5 epochs after the best score came
    assert str(caught[0].message) == (
        f"NeuralNetClassifier stopped early after {clf.n_epochs_} of max_epochs=100 epochs: "
        "the validation accuracy did not improve by tol=0.0001 for n_iter_no_change=5 epochs; "
        f"the parameters of epoch {best_epoch} (validation accuracy "
        f"{clf.best_validation_score_:.4f}) are kept."
    )
    # a run cut at the best epoch (same seed, same split) ends with the kept parameters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cut = NeuralNetClassifier(max_epochs=best_epoch, **kw).fit(X, y)
    assert_array_equal(cut.coefs_[0], clf.coefs_[0])


def test_optimizer_arguments_are_mapped_explicitly():
    """Each optimiser gets exactly the arguments of its signature from the estimator."""
    for name, cls in OPTIMIZERS.items():
        clf = NeuralNetClassifier(optimizer=name, learning_rate=0.5, momentum=0.3, eps=1e-7)
        args = clf._optimizer_args()
        # max_fun and ftol are SciPy options the estimator does not set
        takes = set(inspect.signature(cls).parameters) - {"max_fun", "ftol"}
        assert set(args) == takes, name
        for key, value in args.items():
            expected = {"max_iter": clf.max_epochs}.get(key, clf.get_params().get(key))
            assert value == expected, (name, key)


def test_no_intercept_keeps_biases_at_zero(blobs):
    X, y = blobs
    for optimizer in ("sgd", "sgdw", "adamw", "lbfgs"):
        clf = NeuralNetClassifier(
            (6,), optimizer=optimizer, fit_intercept=False, max_epochs=5, random_state=0
        ).fit(X, y)
        assert all(not b.any() for b in clf.intercepts_), optimizer
        assert clf.coefs_[0].any()


def test_squared_error_loss_and_warm_restarts(blobs):
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # warm restarts end at 0
        clf = NeuralNetClassifier(
            (8,),
            loss="squared_error",
            schedule="warm_restarts",
            learning_rate=0.01,
            max_epochs=28,
            random_state=0,
        ).fit(X, y)
    assert not hasattr(clf, "predict_proba")  # has_proba is False for this loss
    assert clf.score(X, y) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_random_state_reproducible_and_shuffle_off(blobs):
    X, y = blobs
    a = NeuralNetClassifier((6,), max_epochs=5, random_state=3).fit(X, y)
    b = NeuralNetClassifier((6,), max_epochs=5, random_state=3).fit(X, y)
    c = NeuralNetClassifier((6,), max_epochs=5, random_state=3, shuffle=False).fit(X, y)
    assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_partial_fit_continues_and_checks_classes(blobs):
    X, y = blobs
    clf = NeuralNetClassifier((6,), random_state=0)
    msg = "NeuralNetClassifier.partial_fit needs `classes` on its first call."
    with pytest.raises(ValueError, match=re.escape(msg)):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:100], y[:100], classes=[0, 1, 2, 3])
    clf.partial_fit(X[100:], y[100:])
    assert clf.n_epochs_ == 2 and len(clf.loss_curve_) == 2
    assert clf.optimizer_.t_ == 7 + 13  # steps: batches of 16
    msg = "NeuralNetClassifier.partial_fit got labels [7] that are not in classes_ [0, 1, 2, 3]."
    with pytest.raises(ValueError, match=re.escape(msg)):
        clf.partial_fit(X[:2], [0, 7])
    assert not hasattr(NeuralNetClassifier(optimizer="lbfgs"), "partial_fit")


def test_binary_decision_function_is_score_difference(blobs):
    X, y = blobs
    mask = y < 2
    clf = NeuralNetClassifier((5,), max_epochs=20, random_state=0).fit(X[mask], y[mask] + 5)
    decision = clf.decision_function(X[mask])
    assert decision.shape == (mask.sum(),)
    assert_array_equal(clf.predict(X[mask]), np.where(decision > 0, 6, 5))


def test_svm_loss_has_no_probabilities(blobs):
    X, y = blobs
    clf = NeuralNetClassifier((), loss="svm", max_epochs=20, random_state=0).fit(X, y)
    assert not hasattr(clf, "predict_proba")
    assert clf.decision_function(X).shape == (300, 3)
    assert clf.coefs_[0].shape == (5, 3)


def test_penalty_and_weight_decay_shrink_the_weights(blobs):
    X, y = blobs
    kw = {"hidden_layer_sizes": (8,), "max_epochs": 30, "random_state": 0, "tol": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        free = NeuralNetClassifier(weight_decay=0.0, **kw).fit(X, y)
        l2 = NeuralNetClassifier(weight_decay=0.0, alpha=0.1, **kw).fit(X, y)
        decayed = NeuralNetClassifier(weight_decay=0.01, **kw).fit(X, y)
    norm = [sum(float((W**2).sum()) for W in m.coefs_) for m in (free, l2, decayed)]
    assert norm[1] < 0.5 * norm[0] and norm[2] < 0.5 * norm[0]


def test_schedule_multiplies_the_step(blobs):
    X, y = blobs
    initial = NeuralNetClassifier((4,), random_state=0)
    initial.classes_, initial._rng = np.arange(3), np.random.RandomState(0)
    initial._start(X.shape[1])
    kw = {"hidden_layer_sizes": (4,), "max_epochs": 2, "weight_decay": 0.0, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        frozen = NeuralNetClassifier(schedule=lambda epoch, total: 0.0, **kw).fit(X, y)
        moving = NeuralNetClassifier(**kw).fit(X, y)
        for name in ("step", "cosine"):
            assert NeuralNetClassifier(schedule=name, **kw).fit(X, y).n_epochs_ == 2
    assert_array_equal(frozen.coefs_[0], initial.coefs_[0])
    assert not np.allclose(moving.coefs_[0], initial.coefs_[0])


def test_bad_parameters_and_inputs(blobs):
    X, y = blobs
    msg = "hidden_layer_sizes must be a sequence of positive ints; got (10, 0)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        NeuralNetClassifier((10, 0)).fit(X, y)
    msg = "NeuralNetClassifier needs samples of at least 2 classes; got 1 class (np.int64(4))."
    with pytest.raises(ValueError, match=re.escape(msg)):
        NeuralNetClassifier().fit(X, np.full(len(X), 4))
    msg = "The 'activation' parameter of NeuralNetClassifier must be a str among"
    with pytest.raises(ValueError, match=re.escape(msg)):
        NeuralNetClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="diverged"):
        NeuralNetClassifier(
            (8,), optimizer="sgd", learning_rate=1e30, max_epochs=3, random_state=0
        ).fit(X * 1e6, y)


def test_float64_dtype_and_pickle(blobs):
    X, y = blobs
    clf = NeuralNetClassifier((6,), dtype=np.float64, max_epochs=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X.astype(np.float32), y)
    assert clf.coefs_[0].dtype == np.float64
    again = pickle.loads(pickle.dumps(clf))
    assert_array_equal(again.decision_function(X), clf.decision_function(X))


def test_verbose_shows_a_progress_bar(blobs, capsys):
    X, y = blobs
    NeuralNetClassifier((4,), max_epochs=2, verbose=True, random_state=0).fit(X, y)
    assert "epoch" in capsys.readouterr().err


# ---------------------------------------------------------------- digits (the table)
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.3, stratify=y, random_state=0)


def test_digits_defaults(digits):
    X_train, X_test, y_train, y_test = digits
    clf = NeuralNetClassifier(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.97


@pytest.mark.parametrize(
    ("optimizer", "activation"),
    [
        ("adamw", "relu"),
        ("adam", "softplus"),
        ("rmsprop", "maxout"),
        ("lbfgs", "tanh"),
    ],
)
def test_digits_optimizer_activation_pairs(digits, optimizer, activation):
    # scripts/optimizers_demo.py --table runs all 64 pairs (slow optimisers included)
    X_train, X_test, y_train, y_test = digits
    clf = NeuralNetClassifier((64,), optimizer=optimizer, activation=activation, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.90


def test_squared_hinge_lbfgs_is_linearsvc(digits):
    # LinearSVC minimises 0.5 ||w||^2 + C sum_i max(0, 1 - t w.x)^2 per class, which is
    # C n times our mean loss + alpha ||W||^2 with alpha = 1 / (2 C n). liblinear penalises
    # the intercept too, as a feature of value intercept_scaling: large, that penalty vanishes.
    from sklearn.svm import LinearSVC

    X, y = digits[0][:600], digits[2][:600]
    X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-12)
    C, n = 0.01, len(X)
    svc = LinearSVC(C=C, dual=False, tol=1e-12, intercept_scaling=1000, max_iter=10_000)
    svc.fit(X, y)
    net = NeuralNetClassifier(
        (),
        loss="squared_hinge",
        optimizer="lbfgs",
        alpha=1 / (2 * C * n),
        tol=1e-12,
        max_epochs=5000,
        dtype=np.float64,
        random_state=0,
    )
    net.fit(X, y)
    assert_allclose(net.coefs_[0], svc.coef_.T, atol=5e-4)
    assert_allclose(net.intercepts_[0], svc.intercept_, atol=2e-3)
    assert_allclose(net.decision_function(X), svc.decision_function(X), atol=5e-3)
    assert_array_equal(net.predict(X), svc.predict(X))


# more samples than features, fewer (both: the features x features Cholesky form), fewer than
# half as many (the samples x samples form)
@pytest.mark.parametrize("n_samples", [1257, 40, 25])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_least_squares_start_is_ridge(digits, dtype, n_samples):
    # not centred, not scaled: the blocks of the Gram matrix must centre it themselves
    from sklearn.linear_model import Ridge

    X, y = digits[0][:n_samples] + 3.0, digits[2][:n_samples]
    alpha, n = 0.01, len(X)
    clf = NeuralNetClassifier((), alpha=alpha, init="least_squares", dtype=dtype)
    clf.classes_, index = np.unique(y, return_inverse=True)
    clf._rng = np.random.RandomState(0)
    clf._start(X.shape[1])
    clf._least_squares_start(X.astype(dtype), index)
    targets = np.where(index[:, None] == np.arange(len(clf.classes_)), 1.0, -1.0)
    ridge = Ridge(alpha=alpha * n).fit(X, targets)
    atol = 1e-10 if dtype == np.float64 else 1e-4
    assert_allclose(clf.coefs_[0], ridge.coef_.T, atol=atol)
    assert_allclose(clf.intercepts_[0], ridge.intercept_, atol=10 * atol)


def test_least_squares_start_shortens_lbfgs(digits):
    X_train, X_test, y_train, y_test = digits
    kwargs = dict(
        loss="squared_hinge", optimizer="lbfgs", alpha=1e-3, max_epochs=30, random_state=0
    )
    cold = NeuralNetClassifier((), **kwargs).fit(X_train, y_train)
    warm = NeuralNetClassifier((), init="least_squares", **kwargs).fit(X_train, y_train)
    assert warm.loss_curve_[0] < cold.loss_curve_[0] / 3
    assert warm.loss_curve_[-1] < cold.loss_curve_[-1]
    assert warm.score(X_test, y_test) >= 0.95


def test_least_squares_start_needs_a_single_layer(blobs):
    X, y = blobs
    with pytest.raises(
        ValueError,
        match=re.escape(
            "init='least_squares' needs a network without hidden layers "
            "(hidden_layer_sizes=()); got hidden_layer_sizes=(4,)."
        ),
    ):
        NeuralNetClassifier((4,), init="least_squares").fit(X, y)


@pytest.mark.parametrize("loss", ["softmax", "svm", "squared_hinge"])
def test_digits_linear_classifiers(digits, loss):
    X_train, X_test, y_train, y_test = digits
    clf = NeuralNetClassifier((), loss=loss, random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.93
