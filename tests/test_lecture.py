"""The lecture's claims, each asserted numerically, and its figures drawn from the library."""

import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs

from models import NeuralNetClassifier, optimizers
from models import lecture as lec
from pipelines.cli import lecture as lecture_command
from pipelines.lecture import FIGURES, draw
from scripts import lecture as lecture_script

pytestmark = pytest.mark.blas  # float32 BLAS results: rerun under another kernel in CI


# ---------------------------------------------------------------- second-order steps
def test_newton_solves_a_quadratic_in_one_step():
    path = lec.trajectory("newton", "quadratic", steps=1)
    assert_allclose(path[1], lec.SURFACES["quadratic"].minimum, atol=1e-15)
    # in any dimension: w - H^-1 grad(w) is the minimiser of 1/2 w'Hw - b'w
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    H, b, w = A @ A.T + np.eye(6), rng.standard_normal(6), rng.standard_normal(6)
    assert_allclose(w - np.linalg.solve(H, H @ w - b), np.linalg.solve(H, b), rtol=1e-10)
    # and first-order steps do not: gradient descent is still far after one step
    assert np.abs(lec.trajectory("sgd", "quadratic", steps=1)[1]).max() > 1


def test_newton_is_drawn_to_the_saddle_and_lbfgs_finds_the_minima():
    assert_allclose(lec.trajectory("newton", "saddle", steps=1)[1], [0, 0], atol=1e-15)
    for surface in ("quadratic", "rosenbrock"):
        path = lec.trajectory("lbfgs", surface, steps=200)
        assert_allclose(path[-1], lec.SURFACES[surface].minimum, atol=1e-4)


def test_momentum_escapes_the_local_minimum_that_sgd_stays_in():
    local, best = 0.9304, lec.SURFACES["local minimum"].minimum[0]
    assert lec.trajectory("sgd", "local minimum")[-1][0] == pytest.approx(local, abs=1e-3)
    assert lec.trajectory("momentum", "local minimum")[-1][0] == pytest.approx(best, abs=1e-3)


# ---------------------------------------------------------------- the 20-line network
def test_twenty_line_network_is_the_library_network_step_by_step():
    x, labels, y, w1, w2 = lec.twenty_line_data()
    numpy_losses, numpy_weights = lec.twenty_line_network(x, y, w1, w2, steps=100)
    lib_losses, lib_weights = lec.twenty_line_network_library(x, labels, w1, w2, steps=100)
    assert len(lib_weights) == len(numpy_weights) == 100
    for (a1, a2), (b1, b2) in zip(lib_weights, numpy_weights):
        assert_allclose(a1, b1, rtol=0, atol=1e-10)
        assert_allclose(a2, b2, rtol=0, atol=1e-10)
    assert_allclose(lib_losses, numpy_losses, rtol=1e-10)
    assert numpy_losses[-1] < numpy_losses[0] / 10  # and it did learn
    assert np.abs(numpy_weights[-1][1] - w2).max() > 0.1


# ---------------------------------------------------------------- feature transforms
def test_rings_are_linearly_separable_only_in_polar_coordinates():
    X, y = lec.rings()
    raw, _ = lec.linear_accuracy(X, y)
    transformed, _ = lec.linear_accuracy(lec.polar(X), y)
    assert raw <= 0.75
    assert transformed >= 0.99
    assert_allclose(lec.polar(np.array([[0.0, 2.0], [-1.0, 0.0]])), [[2, np.pi / 2], [1, np.pi]])


# ---------------------------------------------------------------- no activation function
def test_a_deep_network_without_activations_is_one_linear_map():
    X, y = make_blobs(200, n_features=4, centers=3, random_state=0)
    clf = NeuralNetClassifier(
        (7, 5, 6), activation="identity", max_epochs=20, dtype=np.float64, random_state=0
    )
    with pytest.warns(Warning):  # stopped at max_epochs on purpose
        clf.fit(X, y)
    W, b = lec.collapse(clf)
    assert W.shape == (4, 3)
    scores = clf.decision_function(X)
    assert_allclose(X @ W + b, scores, rtol=1e-12, atol=1e-12 * np.abs(scores).max())
    msg = "collapse needs a network with activation='identity'; got activation='relu'."
    with pytest.raises(ValueError, match=re.escape(msg)):
        lec.collapse(clf.set_params(activation="relu"))


# ---------------------------------------------------------------- L2 against weight decay
def test_l2_is_weight_decay_for_sgd_and_not_for_adam_in_the_network():
    l2, decoupled = lec.decay_paths(adaptive=False, epochs=3)
    for a, b in zip(l2[-1], decoupled[-1]):
        assert_allclose(a, b, rtol=0, atol=1e-10)
    l2, decoupled = lec.decay_paths(adaptive=True, epochs=3)
    assert max(np.abs(a - b).max() for a, b in zip(l2[-1], decoupled[-1])) > 1e-2


def test_lecture_defaults_are_one_argument_away():
    clf = NeuralNetClassifier(activation="leaky_relu", optimizer="adagrad")
    clf.set_params(**lec.LECTURE_DEFAULTS)
    assert clf._optimizer_args()["eps"] == 1e-7
    # the lecture's AdaGrad: grad_squared += dx * dx; x -= lr * dx / (sqrt(grad_squared) + 1e-7)
    w, dx = np.array([1.0, -2.0]), np.array([1e-7, -3e-7])
    optimizers.get("adagrad", learning_rate=0.1, eps=lec.LECTURE_DEFAULTS["eps"]).step([w], [dx])
    assert_allclose(w, [1.0, -2.0] - 0.1 * dx / (np.sqrt(dx * dx) + 1e-7), rtol=1e-15)


# ---------------------------------------------------------------- figures
@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_draws(name):
    fig = draw(name, fast=True)
    assert isinstance(fig, Figure)
    drawn = [ax for ax in fig.get_axes() if ax.has_data()]
    assert drawn, name


def test_the_script_writes_pngs_and_checks_its_arguments(tmp_path, capsys):
    out = tmp_path / "new" / "folder"
    assert lecture_script.main(["schedules", "--out", str(out)]) == 0
    assert (out / "schedules.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out
    assert lecture_command.NAMES == list(FIGURES)
    with pytest.raises(SystemExit) as exit_info:
        lecture_script.main(["nope", "--out", str(out)])
    assert exit_info.value.code == 2
    msg = "Unknown lecture figure 'nope'; expected one of ['trajectories', "
    with pytest.raises(ValueError, match=re.escape(msg)):
        draw("nope")


def test_the_line_of_the_no_activation_figure_is_the_networks_decision_boundary():
    # the network is fitted again as the figure fits it (same data, seed and epochs): on the
    # line it draws, the two classes' scores are equal
    import warnings

    from models import NeuralNetClassifier
    from models import lecture as lec

    figure = draw("no-activation", fast=True)
    (line,) = [ln for ln in figure.axes[2].get_lines() if ln.get_label().startswith("boundary")]
    X, y = lec.rings(noise=0.1)
    clf = NeuralNetClassifier(
        (16, 16, 16),
        activation="identity",
        learning_rate=0.01,
        max_epochs=20,
        dtype=np.float64,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    points = np.column_stack(line.get_data())
    scale = np.abs(clf.decision_function(X)).max()
    assert np.abs(clf.decision_function(points)).max() < 1e-9 * scale


def test_the_schedules_figure_draws_what_its_labels_say():
    # "step (gamma 0.1 every third)": 1, then 0.1, 0.01, 0.001 after each third of 100 epochs
    figure = draw("schedules")
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    epochs, values = lines["step (gamma 0.1 every third)"].get_data()
    expected = 0.1 ** (np.floor(np.asarray(epochs) / 33))
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    epochs, values = lines["constant"].get_data()
    assert np.all(np.asarray(values) == 1.0)
    epochs, values = lines["cosine"].get_data()
    np.testing.assert_allclose(
        values, 0.5 * (1 + np.cos(np.pi * np.asarray(epochs) / 100)), atol=1e-12
    )
