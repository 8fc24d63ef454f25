"""Compare named pipelines on one train/test split: a table, a bar chart, confusion matrices."""

import csv
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import Pipeline

from .registry import make

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


def evaluate(name, train, test, *, shared=None, **params):
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
    with warnings.catch_warnings(record=True) as caught:
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


def compare(names, train, test, *, progress=None):
    """Evaluate several pipelines on the same split, one after the other.

    A pipeline that raises is reported in its row's ``note`` (with NaN scores) and the others
    still run. Pipelines with the same ``features`` step (class and parameters) fit it once:
    later ones reuse its features (see :func:`evaluate`), which are kept only until the last
    pipeline that needs them.

    Parameters
    ----------
    names : list of str
        Registered pipeline names.
    train, test : ImageDataset
        Labelled images with the same classes.
    progress : callable or None
        Called with one line of text before and after each pipeline.

    Returns
    -------
    rows : list of dict
        See :func:`evaluate`.
    """
    say = progress or (lambda line: None)
    keys = [_features_key(make(name, grey=train.is_grey)) for name in names]
    shared = {}
    rows = []
    for i, (name, key) in enumerate(zip(names, keys), 1):
        say(f"[{i}/{len(names)}] {name}: fitting on {len(train)} images ...")
        try:
            row = evaluate(name, train, test, shared=shared)
        except (ValueError, MemoryError) as exc:
            row = dict.fromkeys(COLUMNS, float("nan"))
            row.update(
                pipeline=name, n_features=0, iterations="", stopped="", note=f"failed: {exc}"
            )
            row["confusion"] = None
            say(f"[{i}/{len(names)}] {name}: FAILED: {exc}")
        else:
            say(
                f"[{i}/{len(names)}] {name}: accuracy {row['accuracy']:.4f}, "
                f"fit {row['fit_seconds']:.1f} s, {row['stopped'] or 'no iterations'}"
                + (f" after {row['iterations']}" if row["iterations"] != "" else "")
            )
        if key not in keys[i:]:
            shared.pop(key, None)  # no later pipeline needs these features
        rows.append(row)
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
            str(row["iterations"]),
            row["stopped"],
            row["note"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(rows, out_dir, class_names, *, title=""):
    """Write results.csv, results.md, accuracy.png and confusion-<pipeline>.png to ``out_dir``.

    Returns
    -------
    files : list of Path
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.csv", out_dir / "results.md", out_dir / "accuracy.png"]
    with open(written[0], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    written[1].write_text((f"# {title}\n\n" if title else "") + format_table(rows) + "\n")

    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 4), layout="constrained")
    names = [row["pipeline"] for row in rows]
    accuracy = [0 if np.isnan(row["accuracy"]) else row["accuracy"] for row in rows]
    bars = ax.bar(names, accuracy, color="tab:blue")
    ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "accuracy by pipeline")
    ax.tick_params(axis="x", labelrotation=30)
    fig.savefig(written[2], dpi=120)
    plt.close(fig)

    for row in rows:
        if row.get("confusion") is None:
            continue
        size = max(4, 0.45 * len(class_names) + 2)
        fig, ax = plt.subplots(figsize=(size, size), layout="constrained")
        ConfusionMatrixDisplay(row["confusion"], display_labels=class_names).plot(
            ax=ax, colorbar=False, xticks_rotation=45, values_format="d"
        )
        ax.set_title(f"{row['pipeline']}: accuracy {row['accuracy']:.3f}")
        path = out_dir / f"confusion-{row['pipeline']}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
