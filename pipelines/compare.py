"""Compare named pipelines on one train/test split: a table, a bar chart, confusion matrices."""

import csv
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from .registry import make

COLUMNS = (
    "pipeline",
    "accuracy",
    "macro_f1",
    "fit_seconds",
    "predict_images_per_s",
    "n_features",
    "note",
)


def evaluate(name, train, test, **params):
    """Fit pipeline ``name`` on ``train`` and score it on ``test``.

    Parameters
    ----------
    name : str
        A registered pipeline name.
    train, test : ImageDataset
        Labelled images.
    **params
        Set on the pipeline before fitting.

    Returns
    -------
    row : dict
        The columns of :data:`COLUMNS`, plus ``confusion`` (the confusion matrix) and
        ``pipeline_object`` (the fitted pipeline).
    """
    pipeline = make(name, grey=train.is_grey, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        pipeline.fit(train.images, train.labels)
        fit_seconds = time.perf_counter() - start
    unconverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    start = time.perf_counter()
    predicted = pipeline.predict(test.images)
    predict_seconds = time.perf_counter() - start
    classes = np.arange(len(train.class_names))
    return {
        "pipeline": name,
        "accuracy": accuracy_score(test.labels, predicted),
        "macro_f1": f1_score(test.labels, predicted, average="macro"),
        "fit_seconds": fit_seconds,
        "predict_images_per_s": len(test) / max(predict_seconds, 1e-9),
        "n_features": int(pipeline.named_steps["scale"].n_features_in_),
        "note": "classifier stopped before convergence" if unconverged else "",
        "confusion": confusion_matrix(test.labels, predicted, labels=classes),
        "pipeline_object": pipeline,
    }


def compare(names, train, test, *, progress=None):
    """Evaluate several pipelines on the same split, one after the other.

    A pipeline that raises is reported in its row's ``note`` (with NaN scores) and the others
    still run.

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
    rows = []
    for i, name in enumerate(names, 1):
        say(f"[{i}/{len(names)}] {name}: fitting on {len(train)} images ...")
        try:
            row = evaluate(name, train, test)
        except (ValueError, MemoryError) as exc:
            row = dict.fromkeys(COLUMNS, float("nan"))
            row.update(pipeline=name, n_features=0, note=f"failed: {exc}", confusion=None)
            say(f"[{i}/{len(names)}] {name}: FAILED: {exc}")
        else:
            say(
                f"[{i}/{len(names)}] {name}: accuracy {row['accuracy']:.4f}, "
                f"fit {row['fit_seconds']:.1f} s"
            )
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
