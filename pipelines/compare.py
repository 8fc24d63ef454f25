"""Compare named pipelines on one train/test split: a table, charts, confusion matrices."""

import csv
import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import Pipeline

from models import NeuralNetClassifier

from ._charts import accuracy_limits, annotated_grid, save
from .registry import make

logger = logging.getLogger(__name__)
COLUMNS = (
    "pipeline",
    "accuracy",
    "macro_f1",
    "fit_seconds",
    "predict_images_per_s",
    "n_features",
    "iterations",
    "stopped",
    "note",
)


def training_summary(estimator, caught=()):
    """How the training of a fitted classifier ended, read from the estimator and its warnings.

    Works for scikit-learn's iterative estimators (``n_iter_`` and ``max_iter``) and for
    :class:`models.NeuralNetClassifier` (``n_epochs_`` and ``max_epochs``).

    Parameters
    ----------
    estimator : estimator
        The fitted classifier.
    caught : list of warnings.WarningMessage, default=()
        The warnings recorded during its fit.

    Returns
    -------
    iterations : int or None
        Iterations (or epochs, for mini-batch training) run; the largest for estimators that
        count them per class; None for an estimator that does not iterate.
    stopped : str
        Why the training ended: ``"converged"`` (its own convergence test, before the limit),
        ``"early stopping (validation)"`` (a score on held-out training data stopped
        improving), ``"not converged: max_iter=N reached"`` or ``"not converged"`` (a
        ``ConvergenceWarning`` was raised; see the warning), ``"max_epochs=N run"`` (the limit
        was reached without a warning, as a schedule that ends at 0 does by design), or
        ``""`` for an estimator that does not iterate.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> training_summary(LogisticRegression(max_iter=1000).fit(X, y))[1]
    'converged'
    """
    iterations = getattr(estimator, "n_iter_", getattr(estimator, "n_epochs_", None))
    if iterations is None:
        return None, ""
    iterations = int(np.max(iterations))
    params = estimator.get_params(deep=False)
    limit_name = next((name for name in ("max_iter", "max_epochs") if name in params), None)
    limit = params.get(limit_name)
    reached = limit is not None and iterations >= limit
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        return iterations, "not converged" + (f": {limit_name}={limit} reached" if reached else "")
    if reached:
        return iterations, f"{limit_name}={limit} run"
    if params.get("early_stopping") and getattr(estimator, "validation_scores_", None):
        return iterations, "early stopping (validation)"
    return iterations, "converged"


class _Features:
    """A fitted ``features`` step with its outputs, kept for later pipelines that share it."""

    def __init__(self, step, train, fit_seconds):
        self.step, self.train, self.fit_seconds = step, train, fit_seconds
        self.test, self.transform_seconds = None, None
        self.first = None  # the pipeline that fitted it


def _features_key(pipeline):
    step = pipeline.named_steps["features"]
    return joblib.hash((type(step).__qualname__, step.get_params(deep=True)))


def evaluate(name, train, test, *, shared=None, bar=None, **params):
    """Fit pipeline ``name`` on ``train`` and score it on ``test``.

    Parameters
    ----------
    name : str
        A registered pipeline name.
    train, test : ImageDataset
        Labelled images.
    shared : dict or None, default=None
        Fitted features steps by their parameters, from earlier calls: a pipeline whose
        ``features`` step has the same class and parameters as one in ``shared`` reuses it
        and its features of ``train`` and ``test`` instead of computing them again (the step
        is deterministic given its parameters, ``random_state`` included). Its own features
        step is added.
    bar : tqdm or None
        A progress bar whose text names the step running; with a bar, a classifier that has
        epochs (:class:`models.NeuralNetClassifier`) shows them in a bar of its own.
    **params
        Set on the pipeline before fitting.

    Returns
    -------
    row : dict
        The columns of :data:`COLUMNS`, plus ``confusion`` (the confusion matrix) and
        ``pipeline_object`` (the fitted pipeline). ``fit_seconds`` and
        ``predict_images_per_s`` include the features step's time also when it was reused.
    """
    pipeline = make(name, grey=train.is_grey, **params)
    rest = Pipeline(pipeline.steps[1:])
    key = _features_key(pipeline) if shared is not None else None
    features = shared.get(key) if shared is not None else None
    if bar is not None:
        bar.set_postfix_str(f"{name}: fit", refresh=True)
    with warnings.catch_warnings(record=True) as caught, epoch_progress(pipeline, bar is not None):
        warnings.simplefilter("always", ConvergenceWarning)
        if features is None:
            step = pipeline.named_steps["features"]
            start = time.perf_counter()
            features = _Features(step, step.fit_transform(train.images, train.labels), 0.0)
            features.fit_seconds = time.perf_counter() - start
            features.first = name
        start = time.perf_counter()
        rest.fit(features.train, train.labels)
        fit_seconds = features.fit_seconds + time.perf_counter() - start
    pipeline.steps[0] = ("features", features.step)
    if bar is not None:
        bar.set_postfix_str(f"{name}: predict", refresh=True)
    if features.test is None:
        start = time.perf_counter()
        features.test = features.step.transform(test.images)
        features.transform_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = rest.predict(features.test)
    predict_seconds = features.transform_seconds + time.perf_counter() - start
    if shared is not None:
        shared[key] = features
    iterations, stopped = training_summary(pipeline[-1], caught)
    notes = [
        str(w.message).split("\n")[0] for w in caught if issubclass(w.category, ConvergenceWarning)
    ][:1]
    if features.first != name:
        notes.append(f"features step shared with {features.first}")
    classes = np.arange(len(train.class_names))
    return {
        "pipeline": name,
        "accuracy": accuracy_score(test.labels, predicted),
        "macro_f1": f1_score(test.labels, predicted, average="macro"),
        "fit_seconds": fit_seconds,
        "predict_images_per_s": len(test) / max(predict_seconds, 1e-9),
        "n_features": int(pipeline.named_steps["scale"].n_features_in_),
        "iterations": "" if iterations is None else iterations,
        "stopped": stopped,
        "note": "; ".join(notes),
        "confusion": confusion_matrix(test.labels, predicted, labels=classes),
        "pipeline_object": pipeline,
    }


@contextmanager
def epoch_progress(pipeline, enabled=True):
    """Within the ``with`` block, the pipeline's classifier shows a bar over its epochs.

    :class:`models.NeuralNetClassifier` has a ``verbose`` bar (nested under an open bar, and
    removed when done); it is switched on for the block and back after it, so that a saved
    model does not carry it. Other classifiers are left alone: scikit-learn's ``verbose``
    prints to stdout.

    Parameters
    ----------
    pipeline : Pipeline or estimator
    enabled : bool, default=True
        False makes this do nothing.

    Examples
    --------
    >>> from pipelines import make
    >>> from pipelines.compare import epoch_progress
    >>> pipeline = make("pixels-mlp")
    >>> with epoch_progress(pipeline):
    ...     pipeline.named_steps["clf"].verbose
    True
    >>> pipeline.named_steps["clf"].verbose
    False
    """
    clf = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    if not (enabled and isinstance(clf, NeuralNetClassifier)):
        yield
        return
    before = clf.verbose
    clf.set_params(verbose=True)
    try:
        yield
    finally:
        clf.set_params(verbose=before)


def compare(names, train, test, *, progress=False):
    """Evaluate several pipelines on the same split, one after the other.

    A pipeline that raises is reported in its row's ``note`` (with NaN scores) and the others
    still run. Pipelines with the same ``features`` step (class and parameters) fit it once:
    later ones reuse its features (see :func:`evaluate`), which are kept only until the last
    pipeline that needs them. Each result is logged (level INFO) on this module's logger.

    Parameters
    ----------
    names : list of str
        Registered pipeline names.
    train, test : ImageDataset
        Labelled images with the same classes.
    progress : bool, default=False
        Show a tqdm progress bar on stderr: one step per pipeline, the step running (fit,
        predict) beside it, and the epochs of classifiers that have them.

    Returns
    -------
    rows : list of dict
        See :func:`evaluate`.
    """
    from tqdm.auto import tqdm

    keys = [_features_key(make(name, grey=train.is_grey)) for name in names]
    shared = {}
    rows = []
    bar = tqdm(
        total=len(names), desc="compare", unit="pipeline", disable=not progress, dynamic_ncols=True
    )
    with bar:
        for i, (name, key) in enumerate(zip(names, keys), 1):
            logger.debug("[%d/%d] %s: fitting on %d images", i, len(names), name, len(train))
            try:
                row = evaluate(name, train, test, shared=shared, bar=None if bar.disable else bar)
            except (ValueError, MemoryError) as exc:
                row = dict.fromkeys(COLUMNS, float("nan"))
                row.update(
                    pipeline=name, n_features=0, iterations="", stopped="", note=f"failed: {exc}"
                )
                row["confusion"] = None
                logger.warning("[%d/%d] %s: failed: %s", i, len(names), name, exc)
            else:
                logger.info(
                    "[%d/%d] %s: accuracy %.4f, fit %.1f s, %.0f images/s, %s%s",
                    i,
                    len(names),
                    name,
                    row["accuracy"],
                    row["fit_seconds"],
                    row["predict_images_per_s"],
                    row["stopped"] or "no iterations",
                    f" after {row['iterations']}" if row["iterations"] != "" else "",
                )
            if key not in keys[i:]:
                shared.pop(key, None)  # no later pipeline needs these features
            rows.append(row)
            if i == len(names):
                bar.set_postfix_str("", refresh=False)
            bar.update()
    return rows


def format_table(rows):
    """The rows as a Markdown table."""
    header = "| " + " | ".join(COLUMNS) + " |"
    lines = [header, "|" + "|".join(["---"] * len(COLUMNS)) + "|"]
    for row in rows:
        cells = [
            row["pipeline"],
            f"{row['accuracy']:.4f}",
            f"{row['macro_f1']:.4f}",
            f"{row['fit_seconds']:.1f}",
            f"{row['predict_images_per_s']:.0f}",
            str(row["n_features"]),
            str(row.get("iterations", "")),
            row.get("stopped", ""),
            row["note"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(rows, out_dir, class_names, *, title=""):
    """Write the table and the charts of a comparison to ``out_dir`` (created if needed).

    Files: ``results.csv``, ``results.md``, ``accuracy.png`` (test accuracy of each pipeline,
    best first, with its 95 % interval and the chance level, on an axis that shows the
    differences), ``speed.png`` (accuracy against fit seconds and against prediction
    images/s, both on log scales) and ``confusion-<pipeline>.png``. Figures are drawn with
    matplotlib's object API: the user's backend is left as it is.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`compare`.
    out_dir : str or Path
    class_names : list of str
        The classes, in label order.
    title : str, default=""
        A heading for results.md and the charts (such as the data set and its split).

    Returns
    -------
    files : list of Path
        The files written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.csv", out_dir / "results.md"]
    with open(written[0], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    written[1].write_text((f"# {title}\n\n" if title else "") + format_table(rows) + "\n")
    # the test images, from the first row that has a confusion matrix (not a failed one)
    n_test = next(
        (int(row["confusion"].sum()) for row in rows if row.get("confusion") is not None), 0
    )
    chance = 1 / len(class_names) if len(class_names) else None
    written.append(
        save(
            accuracy_figure(rows, chance=chance, n_test=n_test, title=title),
            out_dir / "accuracy.png",
            dpi=110,
        )
    )
    written.append(
        save(speed_figure(rows, chance=chance, title=title), out_dir / "speed.png", dpi=110)
    )
    for row in rows:
        if row.get("confusion") is None:
            continue
        path = out_dir / f"confusion-{row['pipeline']}.png"
        written.append(save(confusion_figure(row, class_names), path))
    logger.debug("wrote %s", ", ".join(path.name for path in written))
    return written


def _finished(rows):
    return [row for row in rows if np.isfinite(row["accuracy"])]


def accuracy_figure(rows, *, chance=None, n_test=0, title=""):
    """A dot chart of the pipelines' test accuracy, best first.

    The axis spans the accuracies (:func:`pipelines._charts.accuracy_limits`), not [0, 1],
    so that 0.95 and 0.97 look different; each dot has its 95 % interval (normal
    approximation of the binomial, from ``n_test`` test images) so that a difference can be
    read as real or not; the chance level ``chance`` is a dashed line, or named below the
    axis when it lies far to the left of it.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`compare` (``pipeline`` and ``accuracy`` are used).
    chance : float or None
        The chance level, 1 / number of classes.
    n_test : int, default=0
        Test images behind each accuracy; 0 draws no intervals.
    title : str, default=""

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> from pipelines.compare import accuracy_figure
    >>> rows = [{"pipeline": "hog-svm", "accuracy": 0.96}, {"pipeline": "pixels-svm",
    ...          "accuracy": 0.93}]
    >>> ax = accuracy_figure(rows, chance=0.1, n_test=360).axes[0]
    >>> [round(float(limit), 2) for limit in ax.get_xlim()]
    [0.88, 1.0]
    >>> # figure.savefig("accuracy.png") writes it
    """
    from matplotlib.figure import Figure

    done = sorted(_finished(rows), key=lambda row: row["accuracy"])
    failed = [row["pipeline"] for row in rows if not np.isfinite(row["accuracy"])]
    accuracy = np.array([row["accuracy"] for row in done])
    half = 1.96 * np.sqrt(accuracy * (1 - accuracy) / n_test) if n_test else 0 * accuracy
    figure = Figure(figsize=(7.5, 0.38 * len(done) + 1.9), layout="constrained")
    ax = figure.subplots()
    positions = np.arange(len(done))
    low, high = accuracy_limits(np.concatenate([accuracy - half, accuracy + half]), chance)
    ax.errorbar(
        accuracy,
        positions,
        xerr=half,
        fmt="o",
        color="tab:blue",
        ecolor="0.55",
        capsize=3,
        markersize=6,
    )
    for y, value in zip(positions, accuracy, strict=True):
        ax.annotate(
            f"{value:.3f}",
            (value, y),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_yticks(positions, [row["pipeline"] for row in done])
    ax.set_ylim(-0.7, len(done) - 0.3)
    ax.set_xlim(low, high)
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    label = "test accuracy"
    if n_test:
        label += f" (bars: 95 % interval, {n_test} test images)"
    if chance is not None:
        if low <= chance <= high:
            ax.axvline(chance, color="tab:red", linestyle="--", linewidth=1)
            ax.annotate(
                f"chance {chance:.3f}",
                (chance, len(done) - 0.3),
                xytext=(3, -3),
                textcoords="offset points",
                color="tab:red",
                fontsize=8,
                va="top",
            )
        else:
            label += (
                f"\nchance level {chance:.3f} (1 / {round(1 / chance)} classes) is left of the axis"
            )
    ax.set_xlabel(label)
    heading = title or "accuracy by pipeline"
    if failed:
        heading += f"\nfailed: {', '.join(failed)}"
    ax.set_title(heading, fontsize=10)
    return figure


def speed_figure(rows, *, chance=None, title=""):
    """Accuracy against fit time and against prediction speed, one marker per pipeline.

    Two panels share the accuracy axis: fit seconds (log scale; left is better) and
    prediction images per second (log scale; right is better). One legend names the
    pipelines for both.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`compare` (``pipeline``, ``accuracy``, ``fit_seconds`` and
        ``predict_images_per_s`` are used; failed rows, with NaN accuracy, are left out).
    chance : float or None
        The chance level, drawn when it falls inside the accuracy axis.
    title : str, default=""

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> from pipelines.compare import speed_figure
    >>> rows = [{"pipeline": "hog-svm", "accuracy": 0.96, "fit_seconds": 8.3,
    ...          "predict_images_per_s": 7100.0}]
    >>> figure = speed_figure(rows, chance=0.1)
    >>> [ax.get_xscale() for ax in figure.axes]
    ['log', 'log']
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    done = _finished(rows)
    figure = Figure(figsize=(10, 4.6), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    markers = "osD^vP*Xhp<>"
    # tab20's dark shades, then its light ones: 20 colours before one repeats
    palette = colormaps["tab20"].colors
    colors = [palette[(2 * i) % 20 + (2 * i // 20) % 2] for i in range(len(done))]
    for i, row in enumerate(done):
        style = dict(
            marker=markers[i % len(markers)],
            color=colors[i],
            markersize=8,
            linestyle="none",
            label=row["pipeline"],
        )
        left.plot(row["fit_seconds"], row["accuracy"], **style)
        right.plot(row["predict_images_per_s"], row["accuracy"], **style)
    low, high = accuracy_limits([row["accuracy"] for row in done], chance)
    left.set_ylim(low, high)
    left.set_ylabel("test accuracy")
    for ax, label in (
        (left, "fit time (s, log scale): left is faster"),
        (right, "prediction speed (images/s, log scale): right is faster"),
    ):
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(True, which="major", color="0.9")
        ax.set_axisbelow(True)
        if chance is not None and low <= chance <= high:
            ax.axhline(chance, color="tab:red", linestyle="--", linewidth=1, label="_chance")
    _pad_log_axis(left, [row["fit_seconds"] for row in done])
    _pad_log_axis(right, [row["predict_images_per_s"] for row in done])
    if done:
        figure.legend(
            *left.get_legend_handles_labels(), loc="outside right center", fontsize=8, frameon=False
        )
    figure.suptitle(title or "accuracy against speed", fontsize=10)
    return figure


def _pad_log_axis(ax, values):
    """Limits a little wider than the values, so no marker sits on the edge, and ticks at
    1, 2, 5 (or 1, 3 over wide ranges) times the powers of ten, written as plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    values = np.asarray([v for v in values if np.isfinite(v) and v > 0], dtype=float)
    if not values.size:
        return
    low, high = values.min() / 1.6, values.max() * 1.6
    ax.set_xlim(low, high)
    subs = (1.0, 2.0, 5.0) if np.log10(high / low) <= 2.5 else (1.0, 3.0)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(_plain_tick))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plain_tick(value, _position=None):
    """A tick label as a plain number: 0.5, 20, 3,000 (never 3e+03)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:g}"


def confusion_figure(row, class_names):
    """The confusion matrix of one pipeline, as the share of each true class (the rows).

    Parameters
    ----------
    row : dict
        A row of :func:`compare`, with ``pipeline``, ``accuracy`` and ``confusion``.
    class_names : list of str

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    counts = np.asarray(row["confusion"])
    size = max(4.0, 0.45 * len(class_names) + 2)
    figure = Figure(figsize=(size, size), layout="constrained")
    ax = figure.subplots()
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    annotated_grid(ax, share, fmt="{:.0%}", cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        f"{row['pipeline']}: accuracy {row['accuracy']:.3f} (share of each true class)", fontsize=10
    )
    return figure
