"""Show the optimisers, activations and regularisers of models/ at work.

Parts (choose any; without one, the three plots are drawn):

--trajectories  (a) paths of every optimiser on a badly conditioned quadratic
                f = (x^2 + 20 y^2) / 2, a saddle f = x^2 - y^2 and the Rosenbrock function
                (1 - x)^2 + 100 (y - x^2)^2, one PNG (learning rates chosen per optimiser for
                the picture, not the library defaults; lbfgs through SciPy).
--curves        (b) training-loss curves of every optimiser on the same network (one hidden
                layer of 64 ReLU) and data (digits, inputs in [0, 1]), one PNG.
--decay         (c) L2 penalty (Adam + alpha * ||W||^2) against decoupled weight decay (AdamW)
                on digits: hold-out accuracy and weight norm for a range of strengths, one PNG
                and a table.
--table         the digits table of the issue: hold-out accuracy (30% stratified) of every
                optimiser x activation with hidden_layer_sizes=(64,) and default settings,
                then the defaults and the linear softmax / SVM classifiers (slow: minutes).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from models import ACTIVATIONS, OPTIMIZERS, NeuralNetClassifier, optimizers
from models.lecture import DEMO_LEARNING_RATES

STEP_OPTIMIZERS = [name for name in OPTIMIZERS if name != "lbfgs"]

# (a) test functions: value and gradient of a 2-vector, a start point, the minimum
FUNCTIONS = {
    "quadratic": (
        lambda p: 0.5 * (p[0] ** 2 + 20 * p[1] ** 2),
        lambda p: np.array([p[0], 20 * p[1]]),
        (-4.0, 1.0),
        (0.0, 0.0),
    ),
    "saddle": (
        lambda p: p[0] ** 2 - p[1] ** 2,
        lambda p: np.array([2 * p[0], -2 * p[1]]),
        (-2.0, 1e-3),
        None,
    ),
    "rosenbrock": (
        lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2,
        lambda p: np.array(
            [-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)]
        ),
        (-1.5, 2.0),
        (1.0, 1.0),
    ),
}
# learning rates for the pictures (shared with scripts/lecture.py's trajectories)
DEMO_LR = DEMO_LEARNING_RATES
GRADIENT_SCALE = {"quadratic": 1.0, "saddle": 1.0, "rosenbrock": 0.02}


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for part in ("trajectories", "curves", "decay", "table"):
        parser.add_argument(f"--{part}", action="store_true", help="see below")
    parser.add_argument("--out-dir", default=".", help="folder for the PNG files")
    parser.add_argument("--steps", type=int, default=300, help="steps per trajectory (a)")
    parser.add_argument("--epochs", type=int, default=100, help="epochs per curve (b), (c)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.trajectories or args.curves or args.decay or args.table):
        args.trajectories = args.curves = args.decay = True
    return args


def _digits(random_state=0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.3, stratify=y, random_state=random_state)


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NeuralNetClassifier(**params).fit(X, y)


def _path(name, function, steps):
    value, grad, start, _ = FUNCTIONS[function]
    p = np.array(start)
    path = [p.copy()]
    if name == "lbfgs":
        optimizers.LBFGS(max_iter=steps, tol=1e-10).minimize(
            [p],
            lambda ps: (value(ps[0]), [grad(ps[0])]),
            callback=lambda intermediate_result: path.append(intermediate_result.x.copy()),
        )
        return np.array(path)
    scale = 1.0 if name in ("adagrad", "rmsprop", "adam", "adamw") else GRADIENT_SCALE[function]
    opt = optimizers.get(name, learning_rate=DEMO_LR[name] * scale)
    for _ in range(steps):
        opt.step([p], [grad(p)])
        path.append(p.copy())
        if not np.isfinite(p).all() or np.abs(p).max() > 1e3:
            break
    return np.array(path)


def plot_trajectories(args):
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(18, 6.6), layout="constrained")
    axes = fig.subplots(1, 3)
    colors = colormaps["tab10"](np.arange(10))
    for ax, (function, (value, _, start, minimum)) in zip(axes, FUNCTIONS.items()):
        xs, ys = np.meshgrid(np.linspace(-4.5, 2.5, 300), np.linspace(-1.5, 3.0, 300))
        zs = value(np.stack([xs, ys]))
        levels = np.logspace(-2, 3.5, 30) if function == "rosenbrock" else 30
        ax.contour(xs, ys, zs, levels=levels, colors="0.8", linewidths=0.7)
        for color, name in zip(colors, OPTIMIZERS):
            path = _path(name, function, args.steps)
            ax.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=1, color=color, label=name)
        ax.plot(*start, "ko")
        if minimum is not None:
            ax.plot(*minimum, "k*", ms=12)
        ax.set(title=f"{function} ({args.steps} steps)", xlim=(-4.5, 2.5), ylim=(-1.5, 3.0))
    # one legend for the three panels, below them (the paths are the same optimisers)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return _save(fig, args, "optimizers_trajectories.png")


def plot_curves(args):
    from matplotlib.figure import Figure

    X_train, X_test, y_train, y_test = _digits(args.random_state)
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.subplots()
    for name in OPTIMIZERS:
        clf = _fit(
            X_train,
            y_train,
            hidden_layer_sizes=(64,),
            optimizer=name,
            max_epochs=args.epochs,
            tol=0.0,
            random_state=args.random_state,
        )
        label = f"{name} (hold-out {clf.score(X_test, y_test):.3f})"
        ax.semilogy(np.arange(1, len(clf.loss_curve_) + 1), clf.loss_curve_, label=label)
        print(label)
    ax.set(
        xlabel="epoch (lbfgs: iteration)",
        ylabel="training loss",
        title="digits, hidden (64,) ReLU, learning rate 1e-3, batch 16",
    )
    ax.legend()
    return _save(fig, args, "optimizers_curves.png")


def plot_decay(args):
    from matplotlib.figure import Figure

    X_train, X_test, y_train, y_test = _digits(args.random_state)
    strengths = {
        "adam, L2 alpha": ("adam", "alpha", [0, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1]),
        "adamw, weight_decay": ("adamw", "weight_decay", [0, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2]),
    }
    fig = Figure(figsize=(14, 5.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    print(f"{'regulariser':22s} {'strength':>9s} {'hold-out':>9s} {'||W||^2':>9s}")
    for label, (name, param, values) in strengths.items():
        scores, norms = [], []
        for value in values:
            params = {"alpha": 0.0, "weight_decay": 0.0, param: value}
            clf = _fit(
                X_train,
                y_train,
                hidden_layer_sizes=(64,),
                optimizer=name,
                max_epochs=args.epochs,
                random_state=args.random_state,
                **params,
            )
            scores.append(clf.score(X_test, y_test))
            norms.append(sum(float((W.astype(np.float64) ** 2).sum()) for W in clf.coefs_))
            print(f"{label:22s} {value:9.0e} {scores[-1]:9.4f} {norms[-1]:9.1f}")
        x = np.array(values, dtype=float)
        x[x == 0] = x[x > 0].min() / 10  # log axis: no regularisation drawn a decade lower
        left.semilogx(x, scores, "o-", label=f"{label} (0 drawn at {x[0]:g})")
        right.loglog(x, norms, "o-", label=label)
    left.set(
        xlabel="alpha or weight_decay",
        ylabel="hold-out accuracy",
        title="L2 penalty vs decoupled weight decay (digits, (64,) ReLU)",
    )
    right.set(xlabel="alpha or weight_decay", ylabel="sum of squared weights")
    left.legend()
    return _save(fig, args, "optimizers_decay.png")


def print_table(args):
    X_train, X_test, y_train, y_test = _digits(args.random_state)
    acts = list(ACTIVATIONS)
    print("hold-out accuracy / epochs, hidden (64,), default settings otherwise")
    print("| optimizer | " + " | ".join(acts) + " |")
    print("|---" * (len(acts) + 1) + "|")
    worst = 1.0
    for name in OPTIMIZERS:
        cells = []
        for act in acts:
            clf = _fit(
                X_train,
                y_train,
                hidden_layer_sizes=(64,),
                optimizer=name,
                activation=act,
                random_state=args.random_state,
            )
            score = clf.score(X_test, y_test)
            worst = min(worst, score)
            cells.append(f"{score:.3f} / {clf.n_epochs_}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"lowest: {worst:.3f}")
    for label, params in [
        ("defaults, hidden (100,)", {}),
        ("defaults, hidden (64,)", {"hidden_layer_sizes": (64,)}),
        ("linear softmax, hidden ()", {"hidden_layer_sizes": ()}),
        ("linear SVM, hidden ()", {"hidden_layer_sizes": (), "loss": "svm"}),
    ]:
        start = time.perf_counter()
        clf = _fit(X_train, y_train, random_state=args.random_state, **params)
        print(
            f"{label:28s} {clf.score(X_test, y_test):.4f}  ({clf.n_epochs_} epochs, "
            f"{time.perf_counter() - start:.1f} s)",
            flush=True,
        )


def _save(fig, args, name):
    path = Path(args.out_dir) / name
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")
    return path


def main(argv=None) -> int:
    args = _parse(argv)
    if not Path(args.out_dir).is_dir():
        print(f"optimizers_demo: --out-dir {args.out_dir} is not a folder", file=sys.stderr)
        return 2
    with np.errstate(all="ignore"):
        if args.trajectories:
            plot_trajectories(args)
        if args.curves:
            plot_curves(args)
        if args.decay:
            plot_decay(args)
    if args.table:
        print_table(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
