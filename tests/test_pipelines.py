"""Named pipelines, the comparison and its script, on scikit-learn's digits."""

import csv
import logging
import re

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from pipelines import available, describe, make
from pipelines.compare import compare, format_table
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
    assert make("pixels-svm", clf__alpha=0.5).get_params()["clf__alpha"] == 0.5
    with pytest.raises(ValueError, match=re.escape("Unknown pipeline 'nope'; available: ")):
        make("nope")


@pytest.mark.parametrize("name", ["pixels-softmax", "pixels-svm"])
def test_pixel_pipelines_score_on_digits(name, digits_split):
    train, test = digits_split
    model = make(name).fit(train.images, train.labels)
    assert model.score(test.images, test.labels) >= 0.93


def test_compare_table_and_failure_row(digits_split, caplog):
    train, test = digits_split
    with caplog.at_level(logging.INFO, logger="pipelines"):
        rows = compare(["pixels-softmax"], train, test)
    assert rows[0]["n_features"] == 64 and rows[0]["accuracy"] > 0.9
    assert rows[0]["confusion"].sum() == len(test)
    assert [r.name for r in caplog.records] == ["pipelines.compare"]
    assert caplog.records[0].getMessage().startswith("[1/1] pixels-softmax: accuracy 0.9")
    assert "| pixels-softmax | 0.9" in format_table(rows)


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
