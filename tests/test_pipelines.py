"""Named pipelines, the comparison and its script, on scikit-learn's digits."""

import csv
import logging
import re
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from features import ColorHistogram, RawPixels
from pipelines import available, describe, make, registry
from pipelines.compare import compare, evaluate, format_table, training_summary
from pipelines.datasets import load_dataset
from scripts import compare as compare_script

pytestmark = pytest.mark.blas  # float32 BLAS results: rerun under another kernel in CI


@pytest.fixture(scope="module")
def digits_split():
    data = load_dataset("digits")
    train, test = train_test_split(
        np.arange(len(data)), test_size=0.3, stratify=data.labels, random_state=0
    )
    return data.subset(train), data.subset(test)


def test_registry_names_and_steps():
    names = available()
    assert names[:2] == ["pixels-softmax", "pixels-svm"]
    for name in names:
        pipeline = make(name)
        assert isinstance(pipeline, Pipeline)
        assert [step for step, _ in pipeline.steps] == ["features", "scale", "clf"]
        assert make(name) is not pipeline  # a fresh pipeline every call
        assert describe(name)


def test_make_sets_parameters_and_rejects_unknown_names():
    assert make("pixels-svm", clf__C=0.5).get_params()["clf__C"] == 0.5
    with pytest.raises(ValueError, match=re.escape("Unknown pipeline 'nope'; available: ")):
        make("nope")


@pytest.fixture(scope="module")
def floor(digits_split):
    """The accuracy every named pipeline must reach on the digits split, from two baselines
    measured here: chance (the most frequent test class) and a plain scikit-learn softmax on
    the standardised pixels. A pipeline must close 80 % of the gap between them."""
    train, test = digits_split
    chance = np.bincount(test.labels).max() / len(test)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    reference.fit(train.images.reshape(len(train), -1), train.labels)
    baseline = reference.score(test.images.reshape(len(test), -1), test.labels)
    assert baseline > chance + 0.5  # the baseline itself learnt something
    return chance + 0.8 * (baseline - chance)


# Parameters of the named pipelines that only buy accuracy on large photos and cost seconds on
# digits; whatever pipeline has them gets these values (names ending in "__<key>").
_FAST = {"n_words": 64, "n_training_patches": 20_000}


def _fast(pipeline):
    found = {
        key: value
        for key in pipeline.get_params()
        for suffix, value in _FAST.items()
        if key.endswith(f"__{suffix}")
    }
    return pipeline.set_params(**found)


@pytest.mark.parametrize("name", available())
def test_every_named_pipeline_learns_digits(name, digits_split, floor):
    train, test = digits_split
    model = _fast(make(name, grey=train.is_grey))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # few epochs: the score decides
        model.fit(train.images, train.labels)
    assert model.score(test.images, test.labels) >= floor
    assert list(model.classes_) == list(range(10))


def _histograms(step, prefix="features"):
    """{parameter path: ColorHistogram} inside a (fitted) features step."""
    found = {prefix: step} if isinstance(step, ColorHistogram) else {}
    for key, value in step.get_params(deep=True).items():
        if isinstance(value, ColorHistogram):
            found[f"{prefix}__{key}"] = value
    return found


@pytest.mark.parametrize("name", available())
def test_grey_switches_exactly_the_colour_histograms_to_grey(name, digits_split):
    train, _ = digits_split
    grey = (train.images[:12] * 16).astype(np.uint8)  # digits: 17 grey levels, 0 to 16
    colour = np.stack([grey, 255 - grey, grey // 2], axis=-1)
    plain, for_grey = make(name), make(name, grey=True)
    histograms = _histograms(plain.named_steps["features"])
    changed = {
        key
        for key, value in for_grey.get_params().items()
        if "__" in key
        and not isinstance(value, (list, BaseEstimator))
        and plain.get_params()[key] != value
    }
    assert changed == {f"{key}__color_space" for key in histograms}
    if not histograms:
        return
    # Without grey=True the colour spaces need three channels; with it, grey images go
    # through and each histogram is the grey one of the same bins and cells.
    with pytest.raises(ValueError, match="needs colour images with 3 channels"):
        clone(plain.named_steps["features"]).fit(grey)
    grey_step = clone(for_grey.named_steps["features"]).fit(grey)
    colour_step = clone(plain.named_steps["features"]).fit(colour)
    for key, fitted in _histograms(grey_step).items():
        original = histograms[key]
        assert fitted.color_space == "grey" and original.color_space != "grey"
        expected = ColorHistogram(**{**original.get_params(), "color_space": "grey"})
        np.testing.assert_array_equal(fitted.transform(grey), expected.fit_transform(grey))
        # marginal histograms: one channel of bins in place of three
        coloured = _histograms(colour_step)[key]
        if original.mode == "marginal":
            assert 3 * fitted.n_features_out_ == coloured.n_features_out_
        else:
            assert fitted.n_features_out_**3 == coloured.n_features_out_
    assert grey_step.transform(grey).shape[1] < colour_step.transform(colour).shape[1]


class _Unfittable(ClassifierMixin, BaseEstimator):
    """A classifier whose fit fails as a bad pipeline would."""

    def fit(self, X, y):
        raise ValueError("cannot fit this on purpose")


@pytest.fixture
def broken_pipeline(monkeypatch):
    """A pipeline named "broken" in the registry, whose classifier raises in fit."""

    def factory():
        steps = [("features", RawPixels()), ("scale", StandardScaler()), ("clf", _Unfittable())]
        return Pipeline(steps)

    monkeypatch.setitem(registry._PIPELINES, "broken", (factory, "fails in fit"))
    return "broken"


def test_compare_gives_a_failure_row_and_runs_the_others(digits_split, broken_pipeline, caplog):
    train, test = digits_split
    with caplog.at_level(logging.INFO, logger="pipelines"):
        start = time.perf_counter()
        rows = compare([broken_pipeline, "pixels-softmax"], train, test)
        elapsed = time.perf_counter() - start
    failed, good = rows
    assert failed["pipeline"] == "broken"
    assert failed["note"] == "failed: cannot fit this on purpose"
    assert np.isnan(failed["accuracy"]) and failed["n_features"] == 0
    assert failed["confusion"] is None
    assert good["pipeline"] == "pixels-softmax" and good["n_features"] == 64
    assert good["accuracy"] > 0.9 and good["confusion"].sum() == len(test)
    assert 0 < good["fit_seconds"] < elapsed and good["predict_images_per_s"] > len(test) / elapsed
    assert [r.name for r in caplog.records] == ["pipelines.compare"] * 2
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert caplog.records[0].getMessage() == "[1/2] broken: failed: cannot fit this on purpose"
    assert caplog.records[1].getMessage().startswith("[2/2] pixels-softmax: accuracy 0.9")
    table = format_table(rows)
    assert re.search(r"\| broken \| nan .*failed: cannot fit this on purpose", table)
    assert "| pixels-softmax | 0.9" in table


def test_compare_script_reports_a_failed_pipeline_and_writes_every_row(
    broken_pipeline, tmp_path, capsys
):
    argv = ["--pipelines", f"pixels-softmax,{broken_pipeline}", "--out", str(tmp_path), "-q"]
    assert compare_script.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [  # -q keeps warnings and errors
        "warning: [2/2] broken: failed: cannot fit this on purpose",
        "compare.py: 1 pipeline(s) failed: broken",
    ]
    assert "| broken |" in captured.out
    with open(tmp_path / "results.csv") as f:
        rows = {row["pipeline"]: row for row in csv.DictReader(f)}
    assert rows["broken"]["note"] == "failed: cannot fit this on purpose"
    assert float(rows["pixels-softmax"]["accuracy"]) > 0.9


def test_compare_script_writes_its_files(tmp_path, capsys):
    code = compare_script.main(["--pipelines", "pixels-softmax,pixels-svm", "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| pixels-svm |" in printed
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["pipeline"] for row in rows] == ["pixels-softmax", "pixels-svm"]
    assert all(float(row["accuracy"]) > 0.9 for row in rows)
    for name in ["results.md", "accuracy.png", "confusion-pixels-svm.png"]:
        assert (tmp_path / name).stat().st_size > 0


def test_compare_script_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare_script.main(["--pipelines", "nope"])
    assert exit_info.value.code == 2
    assert "unknown pipeline(s) nope" in capsys.readouterr().err
    code = compare_script.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert code == 1
    assert "does not exist" in capsys.readouterr().err


def _fit_recording(estimator, X, y):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X, y)
    return estimator, caught


def test_training_summary_reads_how_each_fit_ended():
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.neural_network import MLPClassifier

    from models import NeuralNetClassifier

    data = load_dataset("digits")
    X, y = data.images.reshape(len(data), -1), data.labels
    clf, caught = _fit_recording(LogisticRegression(max_iter=1000), X, y)
    assert training_summary(clf, caught) == (clf.n_iter_.max(), "converged")
    clf, caught = _fit_recording(LogisticRegression(max_iter=3), X, y)
    assert training_summary(clf, caught) == (3, "not converged: max_iter=3 reached")
    mlp = MLPClassifier((16,), early_stopping=True, n_iter_no_change=2, random_state=0)
    clf, caught = _fit_recording(mlp, X, y)
    assert clf.n_iter_ < clf.max_iter
    assert training_summary(clf, caught) == (clf.n_iter_, "early stopping (validation)")
    # a schedule that ends at 0 runs all its epochs without a warning
    net = NeuralNetClassifier((8,), schedule="cosine", max_epochs=3, random_state=0)
    clf, caught = _fit_recording(net, X, y)
    assert training_summary(clf, caught) == (3, "max_epochs=3 run")
    net = NeuralNetClassifier((), loss="squared_hinge", optimizer="lbfgs", max_epochs=2)
    clf, caught = _fit_recording(net, X, y)
    assert training_summary(clf, caught) == (2, "not converged: max_epochs=2 reached")
    assert training_summary(RidgeClassifier().fit(X, y)) == (None, "")


def test_compare_fits_a_shared_features_step_once(digits_split):
    train, test = digits_split
    rows = compare(["pixels-softmax", "hog-svm", "pixels-svm"], train, test)
    first, last = rows[0]["pipeline_object"], rows[2]["pipeline_object"]
    assert last.named_steps["features"] is first.named_steps["features"]
    assert rows[1]["pipeline_object"].named_steps["features"] is not first.named_steps["features"]
    assert rows[2]["note"] == "features step shared with pixels-softmax"
    assert rows[0]["note"] == rows[1]["note"] == ""
    alone = evaluate("pixels-svm", train, test)
    assert alone["accuracy"] == rows[2]["accuracy"]
    assert_array_equal(alone["confusion"], rows[2]["confusion"])
    for row in rows:
        assert row["stopped"] == "converged" and row["iterations"] > 0
