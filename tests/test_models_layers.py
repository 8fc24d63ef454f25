"""Activations and losses: values, derivatives against finite differences, registries."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose
from scipy.special import expit, log_softmax, softmax

from models import activations, losses
from models.activations import ACTIVATIONS
from models.losses import LOSSES

pytestmark = pytest.mark.blas  # float32 BLAS results: rerun under another kernel in CI

REFERENCE = {
    "identity": lambda z: z,
    "sigmoid": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
}


def _inputs(pieces=1, seed=0):
    """Pre-activations away from the kinks at 0 (finite differences are exact there)."""
    z = np.random.default_rng(seed).uniform(-4, 4, (7, 5 * pieces))
    z[np.abs(z) < 0.05] = 0.3
    return z


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_forward_matches_reference(name):
    z = _inputs()
    a, _ = activations.get(name).forward(z.copy())
    assert_allclose(a, REFERENCE[name](z), rtol=1e-12, atol=1e-15)


def test_maxout_forward_takes_the_max_of_piece_blocks():
    z = _inputs(pieces=3)
    a, winner = activations.get("maxout", pieces=3).forward(z.copy())
    blocks = z.reshape(7, 3, 5)
    assert_allclose(a, blocks.max(axis=1))
    assert_allclose(winner, blocks.argmax(axis=1))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_finite_differences(name):
    act = activations.get(name)
    z = _inputs(act.pieces)
    upstream = np.random.default_rng(1).standard_normal((7, 5))
    _, cache = act.forward(z.copy())
    grad = act.backward(upstream.copy(), cache)
    h = 1e-6
    numeric = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        numeric[idx] = ((act.forward(zp)[0] - act.forward(zm)[0]) * upstream).sum() / (2 * h)
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_float32_in_float32_out(name):
    z = _inputs().astype(np.float32)
    act = activations.get(name)
    a, cache = act.forward(z.copy())
    assert a.dtype == np.float32
    assert act.backward(np.ones_like(a), cache).dtype == np.float32
    assert_allclose(a, REFERENCE[name](z.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_extreme_inputs_stay_finite():
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    for name in ACTIVATIONS:
        act = activations.get(name)
        if act.pieces > 1:
            continue
        a, cache = act.forward(z.copy())
        assert np.isfinite(a).all() and np.isfinite(act.backward(np.ones_like(a), cache)).all()


def test_activation_registry_and_hyper_parameters():
    assert set(ACTIVATIONS) == {
        "identity",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "softplus",
        "maxout",
    }
    # the lecture's leaky ReLU, max(0.2 x, x), is one argument away
    z = np.linspace(-3, 3, 13)[None]
    lecture, _ = activations.get("leaky_relu", negative_slope=0.2).forward(z.copy())
    assert_allclose(lecture, np.maximum(0.2 * z, z), rtol=1e-15)
    assert activations.get("elu", alpha=2.0).forward(np.array([[-50.0]]))[0] == pytest.approx(-2.0)
    assert activations.get("maxout").pieces == 2
    msg = "Unknown activation 'swish'; expected one of ['elu', 'identity', "
    with pytest.raises(ValueError, match=re.escape(msg)):
        activations.get("swish")


# ---------------------------------------------------------------- losses
def _scores(seed=0, n=6, k=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, k)) * 2, rng.integers(0, k, n)


def test_softmax_loss_value_and_gradient():
    s, y = _scores()
    value, grad = losses.get("softmax")(s.copy(), y)
    assert value == pytest.approx(-log_softmax(s, axis=1)[np.arange(6), y].mean(), rel=1e-12)
    expected = softmax(s, axis=1)
    expected[np.arange(6), y] -= 1
    assert_allclose(grad, expected / 6, rtol=1e-12)


def test_svm_loss_value_and_gradient():
    s, y = _scores()
    value, grad = losses.get("svm")(s.copy(), y)
    expected_value, expected_grad = 0.0, np.zeros_like(s)
    for i in range(6):  # the lecture's loop, one sample at a time
        for j in range(4):
            margin = s[i, j] - s[i, y[i]] + 1
            if j != y[i] and margin > 0:
                expected_value += margin
                expected_grad[i, j] += 1
                expected_grad[i, y[i]] -= 1
    assert value == pytest.approx(expected_value / 6, rel=1e-12)
    assert_allclose(grad, expected_grad / 6)


def test_squared_hinge_loss_value_and_gradient():
    s, y = _scores(seed=1)
    value, grad = losses.get("squared_hinge")(s.copy(), y)
    expected_value, expected_grad = 0.0, np.zeros_like(s)
    for i in range(6):  # one binary L2-SVM per class, one sample at a time
        for j in range(4):
            t = 1.0 if j == y[i] else -1.0
            margin = max(0.0, 1 - t * s[i, j])
            expected_value += margin**2
            expected_grad[i, j] = -2 * t * margin
    assert value == pytest.approx(expected_value / 6, rel=1e-12)
    assert_allclose(grad, expected_grad / 6, rtol=1e-12)


def test_squared_error_loss_value_and_gradient():
    s, y = _scores(seed=3)
    value, grad = losses.get("squared_error")(s.copy(), y)
    targets = np.eye(4)[y]  # one-hot
    assert value == pytest.approx(((s - targets) ** 2).sum() / 6, rel=1e-12)
    assert_allclose(grad, 2 * (s - targets) / 6, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_matches_finite_differences(name):
    s, y = _scores(seed=2)
    loss = losses.get(name)
    _, grad = loss(s.copy(), y)
    h = 1e-6
    numeric = np.empty_like(s)
    for idx in np.ndindex(s.shape):
        sp, sm = s.copy(), s.copy()
        sp[idx] += h
        sm[idx] -= h
        numeric[idx] = (loss(sp, y)[0] - loss(sm, y)[0]) / (2 * h)
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_softmax_loss_does_not_overflow():
    value, grad = losses.get("softmax")(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    assert value == pytest.approx(500.0)
    assert np.isfinite(grad).all()


def test_loss_registry():
    assert set(LOSSES) == {"softmax", "svm", "squared_hinge", "squared_error"}
    assert [name for name in LOSSES if LOSSES[name].has_proba] == ["softmax"]
    with pytest.raises(ValueError, match=re.escape("Unknown loss 'hinge'; expected one of")):
        losses.get("hinge")


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 5), st.integers(2, 6)), elements=st.floats(-50, 50)
    ),
    st.floats(-100, 100),
)
def test_softmax_is_shift_invariant_and_sums_to_one(scores, shift):
    p = losses.softmax(scores)
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(losses.softmax(scores + shift), p, rtol=1e-9, atol=1e-15)
