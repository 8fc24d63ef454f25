"""The lecture's pictures, drawn from the library itself (``scripts/lecture.py``).

Each entry of :data:`FIGURES` is a function ``draw(fast=False) -> matplotlib.figure.Figure``
built through matplotlib's object API (no pyplot, no backend switch); ``fast=True`` draws
the same picture from less work (fewer steps or epochs), for tests. The numbers come from
:mod:`models.lecture`, :mod:`models` and :mod:`features`; the images are those that ship with
scikit-image.

Examples
--------
>>> from pipelines.lecture import FIGURES, draw
>>> fig = draw("schedules")
>>> len(fig.axes)
1
"""

import warnings

import numpy as np
from matplotlib.figure import Figure

from features import HOG, BagOfVisualWords, ColorHistogram
from features.hog import hog_image
from models import OPTIMIZERS, SCHEDULES, NeuralNetClassifier, schedules
from models import lecture as lec

__all__ = ["FIGURES", "draw", "save_png"]

_TRAJECTORY_METHODS = [
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adam",
    "lbfgs",
    "newton",
]


def _colors(n):
    from matplotlib import colormaps

    return colormaps["tab10"](np.arange(n) % 10)


def _figure(width, height):
    return Figure(figsize=(width, height), layout="constrained", dpi=80)


def trajectories(fast=False):
    """Every optimiser, L-BFGS and Newton's method on four surfaces, one legend."""
    steps = 60 if fast else 300
    fig = _figure(13, 10.5)
    axes = fig.subplots(2, 2).ravel()
    colors = _colors(len(_TRAJECTORY_METHODS))
    for ax, (name, surface) in zip(axes, lec.SURFACES.items()):
        x0, x1, y0, y1 = surface.box
        xs, ys = np.meshgrid(np.linspace(x0, x1, 250), np.linspace(y0, y1, 250))
        zs = surface.value(np.stack([xs, ys]))
        if name == "rosenbrock":
            ax.contour(xs, ys, zs, levels=np.logspace(-1, 3.3, 18), colors="0.8", linewidths=0.7)
        else:
            ax.contour(xs, ys, zs, levels=25, colors="0.8", linewidths=0.7)
        for color, method in zip(colors, _TRAJECTORY_METHODS):
            path = lec.trajectory(method, name, steps)
            style = {"lw": 2.2, "ms": 6} if method in ("newton", "lbfgs") else {"lw": 1.2, "ms": 2}
            ax.plot(path[:, 0], path[:, 1], ".-", color=color, label=method, **style)
        ax.plot(*surface.start, "ko", ms=7, label="start")
        if surface.minimum is not None:
            ax.plot(*surface.minimum, "k*", ms=14, label="global minimum")
        ax.set(xlim=(x0, x1), ylim=(y0, y1), title=f"{name} ({steps} steps)")
        ax.set_xlabel("w1")
        ax.set_ylabel("w2")
    handles, labels = axes[3].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return fig


def loss_curves(fast=False):
    """The training loss of every optimiser on digits (one hidden layer of 64 ReLU)."""
    epochs = 5 if fast else 60
    X_train, X_test, y_train, y_test = lec.digits_split()
    fig = _figure(9, 5.5)
    ax = fig.subplots()
    for color, name in zip(_colors(len(OPTIMIZERS)), OPTIMIZERS):
        clf = NeuralNetClassifier((64,), optimizer=name, max_epochs=epochs, tol=0.0, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # stopped at max_epochs on purpose
            clf.fit(X_train, y_train)
        curve = clf.loss_curve_
        label = f"{name} (hold-out {clf.score(X_test, y_test):.3f})"
        ax.semilogy(np.arange(1, len(curve) + 1), curve, color=color, label=label)
    ax.set(
        xlabel="epoch (lbfgs: iteration over the full batch)",
        ylabel="training loss (softmax cross-entropy)",
        title="digits, hidden (64,) ReLU, learning rate 1e-3, batches of 16",
    )
    ax.legend(loc="lower left", ncols=2, fontsize="small")
    return fig


def schedule_curves(fast=False):
    """The learning-rate multipliers of every schedule, warm restarts included."""
    total = 100
    epochs = np.linspace(0, total, 1001)
    shown = {
        "constant": SCHEDULES["constant"](),
        "step (gamma 0.1 every third)": schedules.Step(step_size=total // 3, gamma=0.1),
        "cosine": SCHEDULES["cosine"](),
        "cosine, 10 epochs warm-up": schedules.Cosine(warmup=10),
        "warm restarts (SGDR, 3 cycles x2)": SCHEDULES["warm_restarts"](),
        "warm restarts (5 equal cycles)": schedules.WarmRestarts(cycles=5, mult=1),
    }
    fig = _figure(9, 4.5)
    ax = fig.subplots()
    for color, (label, schedule) in zip(_colors(len(shown)), shown.items()):
        ax.plot(epochs, [schedule(e, total) for e in epochs], color=color, label=label, lw=1.6)
    ax.set(
        xlabel="epoch",
        ylabel="multiplier eta_t of the learning rate",
        ylim=(-0.03, 1.12),
        title=f"learning-rate schedules over {total} epochs",
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=3, fontsize="small")
    return fig


def _regions(ax, clf, transform, box, cmap="coolwarm"):
    xs, ys = np.meshgrid(np.linspace(box[0], box[1], 300), np.linspace(box[2], box[3], 300))
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    zs = clf.predict(transform(grid)).reshape(xs.shape)
    ax.contourf(xs, ys, zs, levels=[-0.5, 0.5, 1.5], cmap=cmap, alpha=0.25)


def feature_transform(fast=False):
    """Two rings: a linear classifier on (x, y) and on (r, theta)."""
    X, y = lec.rings()
    R = lec.polar(X)
    raw, raw_clf = lec.linear_accuracy(X, y)
    transformed, polar_clf = lec.linear_accuracy(R, y)
    fig = _figure(14, 4.6)
    left, middle, right = fig.subplots(1, 3)
    box = (-3, 3, -3, 3)
    _regions(left, raw_clf, lambda g: g, box)
    _regions(right, polar_clf, lec.polar, box)
    _regions(middle, polar_clf, lambda g: g, (0, 3, -np.pi, np.pi))
    for ax, data in ((left, X), (middle, R), (right, X)):
        for label, marker in ((0, "o"), (1, "^")):
            part = data[y == label]
            ax.scatter(part[:, 0], part[:, 1], s=10, marker=marker, label=f"class {label}")
    left.set(title=f"(x, y): linear classifier, accuracy {raw:.2f}", xlabel="x", ylabel="y")
    middle.set(
        title=f"(r, theta): linear classifier, accuracy {transformed:.2f}",
        xlabel="r = sqrt(x^2 + y^2)",
        ylabel="theta = atan2(y, x)",
    )
    right.set(title="the (r, theta) classifier seen in (x, y)", xlabel="x", ylabel="y")
    for ax in (left, right):
        ax.set_aspect("equal")
    left.legend(loc="upper right", fontsize="small")
    return fig


def twenty_lines(fast=False):
    """The 20-line NumPy network and the library's, step by step."""
    steps = 20 if fast else 100
    x, labels, y, w1, w2 = lec.twenty_line_data()
    numpy_losses, numpy_weights = lec.twenty_line_network(x, y, w1, w2, steps)
    lib_losses, lib_weights = lec.twenty_line_network_library(x, labels, w1, w2, steps)
    gaps = [
        max(np.abs(a - b).max() for a, b in zip(ours, theirs))
        for ours, theirs in zip(lib_weights, numpy_weights)
    ]
    t = np.arange(1, steps + 1)
    fig = _figure(12, 4.5)
    left, right = fig.subplots(1, 2)
    left.semilogy(t, numpy_losses, lw=5, color="0.75", label="20 lines of NumPy")
    left.semilogy(t, lib_losses, "--", color="tab:red", label="NeuralNetClassifier")
    left.set(
        xlabel="step",
        ylabel="loss (squared error summed over the batch)",
        title="sigmoid, squared error, plain SGD, same start weights",
    )
    left.legend()
    right.semilogy(t, np.maximum(gaps, 1e-18), ".-", color="tab:red")
    right.axhline(1e-10, color="k", ls=":", label="1e-10")
    right.set(
        xlabel="step",
        ylabel="max |w_library - w_numpy|",
        title="largest weight difference after each step",
        ylim=(1e-18, 1e-6),
    )
    right.legend()
    return fig


def no_activation(fast=False):
    """A deep network without activations draws a straight boundary: it is one linear map."""
    X, y = lec.rings(noise=0.1)
    max_epochs = 20 if fast else 200
    box = (-3, 3, -3, 3)
    fig = _figure(13, 4.6)
    axes = fig.subplots(1, 3)
    kinds = [("identity", "identity"), ("relu", "ReLU")]
    for ax, (activation, label) in zip(axes[:2], kinds):
        clf = NeuralNetClassifier(
            (16, 16, 16),
            activation=activation,
            learning_rate=0.01,
            max_epochs=max_epochs,
            dtype=np.float64,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)
        _regions(ax, clf, lambda g: g, box)
        ax.scatter(X[:, 0], X[:, 1], c=y, s=8, cmap="coolwarm")
        ax.set(title=f"3 hidden layers of 16, {label}: accuracy {clf.score(X, y):.2f}")
        ax.set(xlim=box[:2], ylim=box[2:])
        ax.set_aspect("equal")
        if activation == "identity":
            W, b = lec.collapse(clf)
            grid = np.random.default_rng(0).uniform(-3, 3, (2000, 2))
            scores = grid @ W + b  # two classes: the decision is s_1 - s_0
            gap = np.abs(scores[:, 1] - scores[:, 0] - clf.decision_function(grid)).max()
            # the boundary of two scores s_1 = s_0 is the line x . (W1 - W0) = b0 - b1
            w, c = W[:, 1] - W[:, 0], b[0] - b[1]
            xs = np.linspace(-3, 3, 2)
            _regions(axes[2], clf, lambda g: g, box)
            axes[2].scatter(X[:, 0], X[:, 1], c=y, s=8, cmap="coolwarm")
            axes[2].plot(
                xs,
                (c - w[0] * xs) / w[1],
                "k-",
                lw=2,
                label=f"boundary of x W + b\n(largest gap to the\nnetwork {gap:.0e})",
            )
            axes[2].set(title="the one linear map, W = W1 W2 W3 W4", xlim=box[:2], ylim=box[2:])
            axes[2].set_aspect("equal")
            axes[2].legend(loc="lower left", fontsize="small")
    return fig


def weight_decay(fast=False):
    """L2 penalty against decoupled weight decay, for SGD and for Adam."""
    epochs = 4 if fast else 30
    fig = _figure(12, 4.5)
    axes = fig.subplots(1, 2)
    for ax, adaptive in zip(axes, (False, True)):
        l2, decoupled = lec.decay_paths(adaptive, epochs=epochs)
        t = np.arange(1, epochs + 1)
        norm = lambda path: [sum(float((W**2).sum()) for W in ws) for ws in path]  # noqa: E731
        gap = [max(np.abs(a - b).max() for a, b in zip(p, q)) for p, q in zip(l2, decoupled)]
        names = (
            ("SGD + L2 penalty", "SGDW, no momentum") if not adaptive else ("Adam + L2", "AdamW")
        )
        ax.plot(t, norm(l2), lw=5, color="0.75", label=names[0])
        ax.plot(t, norm(decoupled), "--", color="tab:red", label=names[1])
        ax.set(
            xlabel="epoch",
            ylabel="sum of squared weights",
            title=f"{'Adam' if adaptive else 'SGD'}: largest weight gap {max(gap):.1e}",
        )
        ax.legend(loc="best")
    fig.suptitle(
        "alpha ||W||^2 against weight_decay = 2 alpha lr (alpha = 1e-3), digits, hidden (32,)"
    )
    return fig


def _example_images():
    import skimage.data

    return {
        "astronaut": skimage.data.astronaut(),
        "coffee": skimage.data.coffee(),
        "chelsea": skimage.data.chelsea(),
    }


def hog_glyphs(fast=False):
    """Images and the glyphs of their HOG cell histograms."""
    import skimage.data

    images = {"camera": skimage.data.camera(), **_example_images()}
    del images["coffee"]
    fig = _figure(11, 7.6)
    axes = fig.subplots(2, len(images))
    for (name, image), top, bottom in zip(images.items(), axes[0], axes[1]):
        small = image[::3, ::3]  # every third pixel: a small file, cells of 24 original pixels
        top.imshow(small, cmap="gray" if image.ndim == 2 else None)
        glyphs = hog_image(small, orientations=9, pixels_per_cell=(8, 8))
        # brightness is the cell histogram value: clip the brightest 0.5 %, 16 grey levels
        glyphs = np.minimum(glyphs / np.percentile(glyphs, 99.5), 1.0)
        bottom.imshow(np.round(glyphs * 15) / 15, cmap="gray", interpolation="nearest")
        hog = HOG(pixels_per_cell=(8, 8), block_norm=None).fit(small[None])
        top.set_title(f"{name}, {small.shape[1]}x{small.shape[0]} pixels")
        bottom.set_title(f"HOG cells of 8x8 pixels ({hog.n_features_out_} values)")
        for ax in (top, bottom):
            ax.set_axis_off()
    return fig


def bovw_codebook(fast=False):
    """The visual words that k-means learns from whitened 6x6 patches of example images."""
    images = [image[::3, ::3][:96, :96] for image in _example_images().values()]
    bovw = BagOfVisualWords(
        n_words=16 if fast else 64, n_training_patches=2_000 if fast else 40_000, random_state=0
    ).fit(np.stack(images))
    words = bovw.codebook_.reshape(-1, 6, 6, 3).astype(np.float64)
    low = words.min(axis=(1, 2, 3), keepdims=True)
    high = words.max(axis=(1, 2, 3), keepdims=True)
    words = (words - low) / np.maximum(high - low, 1e-12)  # each word scaled to [0, 1]
    fig = _figure(11, 6)
    left, right = fig.subfigures(1, 2, width_ratios=[1, 1.4])
    sample_axes = left.subplots(len(images), 1)
    for ax, image in zip(sample_axes, images):
        ax.imshow(image)
        ax.set_axis_off()
    left.suptitle("training images (every 3rd pixel)")
    grid = right.subplots(8, 8)
    for ax, word in zip(grid.ravel(), words):
        ax.imshow(word, interpolation="nearest")
        ax.set_axis_off()
    right.suptitle("64 k-means words of whitened 6x6 patches")
    return fig


def color_histograms(fast=False):
    """Hue, saturation and value histograms of example images."""
    images = _example_images()
    hist = ColorHistogram(bins=16, color_space="hsv", mode="marginal", normalize=None)
    fig = _figure(13, 6.5)
    axes = fig.subplots(2, len(images))
    for (name, image), top, bottom in zip(images.items(), axes[0], axes[1]):
        values = hist.fit_transform(image[None])[0].reshape(3, 16)
        values = values / values.sum(axis=1, keepdims=True)
        top.imshow(image)
        top.set_title(name)
        top.set_axis_off()
        centres = (np.arange(16) + 0.5) / 16
        for channel, color, offset in zip(("hue", "saturation", "value"), _colors(3), (-1, 0, 1)):
            bottom.bar(
                centres + offset * 0.018,
                values[["hue", "saturation", "value"].index(channel)],
                width=0.018,
                color=color,
                label=channel,
            )
        bottom.set(xlabel="bin (0 to 1 of each channel's range)", ylabel="share of pixels")
        bottom.legend(fontsize="small")
    return fig


FIGURES = {
    "trajectories": trajectories,
    "loss-curves": loss_curves,
    "schedules": schedule_curves,
    "feature-transform": feature_transform,
    "twenty-lines": twenty_lines,
    "no-activation": no_activation,
    "weight-decay": weight_decay,
    "hog": hog_glyphs,
    "bovw": bovw_codebook,
    "color": color_histograms,
}


def draw(name, *, fast=False):
    """Draw the lecture figure ``name`` (a key of :data:`FIGURES`).

    Parameters
    ----------
    name : str
    fast : bool, default=False
        Less work (fewer steps, epochs or patches) for the same picture, for tests.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    if name not in FIGURES:
        raise ValueError(f"Unknown lecture figure {name!r}; expected one of {list(FIGURES)}.")
    with np.errstate(over="ignore", invalid="ignore"):  # diverging paths stop by themselves
        return FIGURES[name](fast=fast)


def save_png(fig, path, *, dpi=80, colors=256):
    """Write ``fig`` as a PNG of at most ``colors`` colours (a palette image: small files).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
    dpi : int, default=80
    colors : int or None, default=256
        Palette size; None keeps full colour.
    """
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB")
    if colors is not None:
        image = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.NONE)
    image.save(path, format="PNG", optimize=True)
