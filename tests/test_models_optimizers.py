"""Optimiser steps against hand-written update rules; schedules; L-BFGS through SciPy."""

import inspect
import math
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from models import optimizers, schedules
from models.optimizers import OPTIMIZERS

pytestmark = pytest.mark.blas  # float32 BLAS results: rerun under another kernel in CI

N_STEPS = 5


def _problem(seed=0):
    """Two parameters of different shapes and a gradient sequence for each step."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(N_STEPS)]
    return params, grads


def _reference(name, hyper, params, grads, lr_mults):
    """The update rules of the issue, written out step by step in float64."""
    lr = hyper.get("learning_rate", 1e-3)
    mu, rho = hyper.get("momentum", 0.9), hyper.get("decay_rate", 0.99)
    b1, b2, eps = hyper.get("beta1", 0.9), hyper.get("beta2", 0.999), hyper.get("eps", 1e-8)
    wd = hyper.get("weight_decay", 1e-5)
    out = []
    for p, gs in zip(params, zip(*grads)):
        w, v, s, m = p.copy(), np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
        for t, (g, eta) in enumerate(zip(gs, lr_mults), start=1):
            if name == "sgd":
                w = w - eta * lr * g
            elif name == "momentum":
                v = mu * v + g
                w = w - eta * lr * v
            elif name == "nesterov":
                v = mu * v + g
                w = w - eta * lr * (g + mu * v)
            elif name == "sgdw":  # Loshchilov & Hutter, Algorithm 1
                m = mu * m + eta * lr * g
                w = w - m - eta * wd * w
            elif name == "adagrad":
                s = s + g * g
                w = w - eta * lr * g / (np.sqrt(s) + eps)
            elif name == "rmsprop":
                s = rho * s + (1 - rho) * g * g
                w = w - eta * lr * g / (np.sqrt(s) + eps)
            else:  # adam, adamw
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
                decay = wd * w if name == "adamw" else 0.0
                w = w - eta * (lr * m_hat / (np.sqrt(v_hat) + eps) + decay)
        out.append(w)
    return out


STEP_OPTIMIZERS = [name for name in OPTIMIZERS if name != "lbfgs"]


@pytest.mark.parametrize("name", STEP_OPTIMIZERS)
@pytest.mark.parametrize(
    "hyper",
    [
        {},
        {
            "learning_rate": 0.1,
            "momentum": 0.5,
            "decay_rate": 0.9,
            "beta1": 0.8,
            "beta2": 0.95,
            "eps": 1e-3,
            "weight_decay": 0.05,
        },
    ],
    ids=["defaults", "custom"],
)
def test_steps_follow_the_update_rule(name, hyper):
    params, grads = _problem()
    kept = [p.copy() for p in params]
    takes = inspect.signature(OPTIMIZERS[name]).parameters
    accepted = {k: v for k, v in hyper.items() if k in takes}
    opt = optimizers.get(name, **accepted)
    lr_mults = [1.0, 0.5, 0.25, 1.0, 0.1]
    for g, eta in zip(grads, lr_mults):
        opt.step(params, g, lr_mult=eta)
    expected = _reference(name, accepted, kept, grads, lr_mults)
    for got, want, start in zip(params, expected, kept):
        assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        assert not np.allclose(got, start)  # the step did move the parameters


@pytest.mark.parametrize("name", STEP_OPTIMIZERS)
def test_float32_parameters_stay_float32_and_match(name):
    params, grads = _problem(seed=1)
    params32 = [p.astype(np.float32) for p in params]
    opt64, opt32 = optimizers.get(name), optimizers.get(name)
    for g in grads:
        opt64.step(params, g)
        opt32.step(params32, [x.astype(np.float32) for x in g])
    for p32, p64 in zip(params32, params):
        assert p32.dtype == np.float32
        assert_allclose(p32, p64, rtol=1e-5, atol=1e-6)


def test_state_is_per_parameter():
    """Two parameters updated together give the same result as each alone."""
    params, grads = _problem(seed=2)
    together = [p.copy() for p in params]
    alone = [p.copy() for p in params]
    opt = optimizers.get("adam")
    singles = [optimizers.get("adam") for _ in params]
    for g in grads:
        opt.step(together, g)
        for i, single in enumerate(singles):
            single.step([alone[i]], [g[i]])
    for a, b in zip(together, alone):
        assert_allclose(a, b, rtol=0, atol=0)
    assert len(opt.state_) == 2 and opt.t_ == N_STEPS


def test_adamw_decays_without_learning_rate():
    """With a zero gradient AdamW only decays: w <- w (1 - eta_t weight_decay)."""
    w = np.array([2.0, -4.0])
    opt = optimizers.get("adamw", learning_rate=10.0, weight_decay=0.1)
    opt.step([w], [np.zeros(2)], lr_mult=0.5)
    assert_allclose(w, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-12)


def test_non_contiguous_parameter_is_refused():
    w = np.zeros((4, 4))[:, ::2]
    msg = (
        "Optimisers update C-contiguous arrays in place; got a non-contiguous array of "
        "shape (4, 2)."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        optimizers.get("sgd").step([w], [np.ones_like(w)])


def test_get_unknown_name_and_hyper_parameter():
    msg = "Unknown optimizer 'adamax'; expected one of ['adagrad', 'adam', 'adamw', "
    with pytest.raises(ValueError, match=re.escape(msg)):
        optimizers.get("adamax")
    with pytest.raises(TypeError):
        optimizers.get("sgd", momentum=0.9)
    assert [name for name, cls in OPTIMIZERS.items() if cls.full_batch] == ["lbfgs"]


def test_optimisers_are_small_classes_with_one_interface():
    """The house rule: at most 40 lines each, ``step`` inherited from the one base class
    (L-BFGS, which wraps SciPy and has no ``step``, aside)."""
    for name, cls in OPTIMIZERS.items():
        if not cls.full_batch:
            assert len(inspect.getsource(cls).splitlines()) <= 40, name
            assert cls.step is optimizers._Optimizer.step, name


# ---------------------------------------------------------------- the lecture's claims
@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_first_step_is_learning_rate_times_sign(name):
    g = np.array([3.0, -0.02, 0.5, -250.0])
    w = np.zeros(4)
    hyper = {"weight_decay": 0.0} if name == "adamw" else {}
    optimizers.get(name, learning_rate=0.01, **hyper).step([w], [g])
    # bias-corrected: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps)
    assert_allclose(w, -0.01 * np.sign(g), rtol=1e-6)  # eps / min |g| = 5e-7
    assert_allclose(w, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-15)


def test_nesterov_stores_the_look_ahead_point():
    """The lecture's form v = mu v - lr grad(x + mu v); x += v keeps x; ours keeps x + mu v."""
    H = np.diag([1.0, 20.0])
    lr, mu = 0.02, 0.9
    x, v = np.array([-4.0, 1.0]), np.zeros(2)
    w = x.copy()  # x + mu v with v = 0
    opt = optimizers.get("nesterov", learning_rate=lr, momentum=mu)
    for _ in range(30):
        v = mu * v - lr * H @ (x + mu * v)
        x = x + v
        opt.step([w], [H @ w])
        assert_allclose(w, x + mu * v, rtol=1e-12, atol=1e-14)
    assert not np.allclose(w, x)  # and not the lecture's x itself


def _penalised(alpha):
    """A least-squares problem's gradient plus the L2 penalty gradient 2 alpha w."""
    rng = np.random.default_rng(5)
    A, b = rng.standard_normal((20, 4)), rng.standard_normal(20)
    return lambda w: A.T @ (A @ w - b) / 20 + 2 * alpha * w


def test_l2_penalty_is_weight_decay_for_sgd_but_not_for_adam():
    """SGD on loss + alpha ||w||^2 == SGDW (no momentum) with weight_decay = 2 alpha lr; for
    Adam the penalty goes through the adaptive scaling, so Adam + L2 differs from AdamW."""
    alpha, lr, steps = 0.05, 0.1, 50
    with_l2, without = _penalised(alpha), _penalised(0.0)
    start = np.random.default_rng(6).standard_normal(4)
    l2, decoupled = start.copy(), start.copy()
    sgd = optimizers.get("sgd", learning_rate=lr)
    sgdw = optimizers.get("sgdw", learning_rate=lr, momentum=0.0, weight_decay=2 * alpha * lr)
    etas = np.linspace(1.0, 0.2, steps)  # under a schedule too
    for eta in etas:
        sgd.step([l2], [with_l2(l2)], lr_mult=eta)
        sgdw.step([decoupled], [without(decoupled)], lr_mult=eta)
    assert_allclose(decoupled, l2, rtol=1e-12, atol=1e-15)
    assert not np.allclose(l2, start)

    lr = 0.01
    l2, decoupled = start.copy(), start.copy()
    adam = optimizers.get("adam", learning_rate=lr)
    adamw = optimizers.get("adamw", learning_rate=lr, weight_decay=2 * alpha * lr)
    for _ in range(steps):
        adam.step([l2], [with_l2(l2)])
        adamw.step([decoupled], [without(decoupled)])
    assert np.abs(decoupled - l2).max() > 1e-3


def test_lbfgs_minimises_a_quadratic_in_place():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((5, 5))
    H = A @ A.T + 5 * np.eye(5)
    b = rng.standard_normal(5)
    params = [np.zeros((2, 2)), np.zeros(1)]  # 5 numbers split over two arrays

    def loss_and_grads(ps):
        x = np.concatenate([p.ravel() for p in ps])
        g = H @ x - b
        return 0.5 * x @ H @ x - b @ x, [g[:4].reshape(2, 2), g[4:]]

    seen = []
    result = optimizers.LBFGS(tol=1e-10).minimize(
        params, loss_and_grads, callback=lambda intermediate_result: seen.append(1)
    )
    assert result.success
    assert_allclose(np.concatenate([p.ravel() for p in params]), np.linalg.solve(H, b), atol=1e-6)
    assert len(seen) == result.nit > 0
    assert not hasattr(optimizers.LBFGS(), "step")


# ---------------------------------------------------------------- schedules
@pytest.mark.parametrize(
    ("schedule", "epochs", "expected"),
    [
        (schedules.Constant(), [0, 5, 99.5], [1, 1, 1]),
        (schedules.Step(step_size=10, gamma=0.5), [0, 9.9, 10, 35], [1, 1, 0.5, 0.125]),
        (schedules.Cosine(), [0, 25, 50, 100, 120], [1, (1 + math.sqrt(0.5)) / 2, 0.5, 0, 0]),
        (schedules.Cosine(warmup=10), [0, 5, 10, 55, 100], [0, 0.5, 1, 0.5, 0]),
        (schedules.Step(step_size=2, warmup=4), [1, 4, 6.5], [0.25, 1, 0.1]),
        # cycles of 100/7, 200/7 and 400/7 epochs: restarts at 100/7 and 300/7
        (
            schedules.WarmRestarts(),
            [0, 50 / 7, 100 / 7 - 1e-9, 100 / 7 + 1e-9, 200 / 7, 300 / 7 + 1e-9, 500 / 7, 100, 120],
            [1, 0.5, 0, 1, 0.5, 1, 0.5, 0, 0],
        ),
        (
            schedules.WarmRestarts(cycles=4, mult=1, warmup=20),
            [10, 20, 30, 40 - 1e-9, 40, 90, 100],
            [0.5, 1, 0.5, 0, 1, 0.5, 0],
        ),
    ],
)
def test_schedule_multipliers(schedule, epochs, expected):
    assert_allclose([schedule(e, 100) for e in epochs], expected, atol=1e-12)


def test_schedule_registry():
    assert set(schedules.SCHEDULES) == {"constant", "step", "cosine", "warm_restarts"}
    assert repr(schedules.get("cosine", warmup=3)) == "Cosine(warmup=3)"
    with pytest.raises(ValueError, match=re.escape("Unknown schedule 'linear'")):
        schedules.get("linear")
