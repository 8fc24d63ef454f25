"""Grid search: grids, content keys, the feature cache, the report and the script."""

import csv
import json
import re

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from features import RawPixels
from pipelines.datasets import load_dataset, load_labelled
from pipelines.model_files import load_model
from pipelines.search import (
    CachedFeatures,
    candidate_seconds,
    clear_memory_cache,
    content_key,
    parse_grid,
    search,
    write_search_report,
)
from scripts import grid_search as script


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits")
    index = np.random.default_rng(0).permutation(len(data))[:450]
    return data.subset(index)


def test_parse_grid_inline_json_and_yaml(tmp_path):
    assert parse_grid('{"clf__C": [0.1, 1]}') == {"clf__C": [0.1, 1]}
    (tmp_path / "g.yaml").write_text("clf__C: [0.1, 1]\nfeatures__size:\n  - [8, 8]\n")
    assert parse_grid(str(tmp_path / "g.yaml")) == {"clf__C": [0.1, 1], "features__size": [[8, 8]]}
    (tmp_path / "g.json").write_text('[{"clf__C": [1]}, {"clf__C": [2]}]')
    assert parse_grid(str(tmp_path / "g.json")) == [{"clf__C": [1]}, {"clf__C": [2]}]
    with pytest.raises(ValueError, match=re.escape("The values of 'clf__C' must be a non-empty")):
        parse_grid('{"clf__C": 1}')
    with pytest.raises(ValueError, match=re.escape("The grid is not valid JSON")):
        parse_grid('{"clf__C": [1}')
    with pytest.raises(ValueError, match=re.escape("is neither inline JSON nor an existing")):
        parse_grid("no-such-file.yaml")


def test_content_key_sees_every_byte():
    rng = np.random.default_rng(0)
    a = rng.random((50, 9, 9)).astype(np.float32)
    b = a.copy()
    assert content_key(a) == content_key(b)
    b[49, 8, 8] = np.nextafter(b[49, 8, 8], 2)  # the last value, one ulp
    assert content_key(a) != content_key(b)
    assert content_key(a) != content_key(a.astype(np.float64))
    assert content_key(a) != content_key(a.reshape(50, 81))
    assert content_key(a[::2]) == content_key(np.ascontiguousarray(a[::2]))
    assert content_key(a, None) != content_key(a, np.zeros(50))


def test_cached_features_reuse_fit_and_transform(tmp_path, monkeypatch):
    clear_memory_cache()
    calls = []
    original = RawPixels.transform
    monkeypatch.setattr(
        RawPixels, "transform", lambda self, X: calls.append(1) or original(self, X)
    )
    images = np.random.default_rng(1).random((20, 6, 6)).astype(np.float32)
    first = CachedFeatures(RawPixels(), cache_dir=str(tmp_path))
    expected = RawPixels().fit_transform(images)
    np.testing.assert_array_equal(first.fit_transform(images), expected)
    np.testing.assert_array_equal(first.transform(images[:5]), expected[:5])
    assert len(calls) == 3 and first.cache_hits_ == 0  # the expected, fit, transform
    second = CachedFeatures(RawPixels()).fit(images)
    np.testing.assert_array_equal(second.transform(images[:5]), expected[:5])
    assert len(calls) == 3 and second.cache_hits_ == 2
    clear_memory_cache()  # another process: the shared folder answers
    third = CachedFeatures(RawPixels(), cache_dir=str(tmp_path)).fit(images)
    assert third.cache_hits_ == 1 and len(calls) == 3
    other = CachedFeatures(RawPixels(size=(3, 3))).fit(images)  # other parameters: a miss
    assert other.cache_hits_ == 0 and len(calls) == 4
    assert list(other.get_feature_names_out()[:2]) == ["rawpixels_r0_c0", "rawpixels_r0_c1"]


def test_search_extracts_once_per_fold_and_matches_an_uncached_search(digits, monkeypatch):
    clear_memory_cache()
    fits = []
    original = RawPixels.fit
    monkeypatch.setattr(
        RawPixels, "fit", lambda self, X, y=None: fits.append(1) or original(self, X)
    )
    grid = {"clf__C": [1e-4, 1e-3, 1e-2]}
    cached = search("pixels-softmax", digits.images, digits.labels, grid, cv=3)
    assert len(fits) == 3 + 1  # one per fold, then the refit on all images
    fits.clear()
    plain = search("pixels-softmax", digits.images, digits.labels, grid, cv=3, cache=False)
    assert len(fits) == 3 * 3 + 1
    np.testing.assert_array_equal(
        cached.cv_results["mean_test_score"], plain.cv_results["mean_test_score"]
    )
    assert cached.best_params == plain.best_params and set(cached.best_params) == {"clf__C"}
    assert isinstance(cached.best_pipeline, Pipeline)
    assert isinstance(cached.best_pipeline.named_steps["features"], RawPixels)
    assert candidate_seconds(cached.cv_results).shape == (3,)


def test_feature_grid_names_report_and_heatmap(digits, tmp_path, capfd):
    grid = {"features__grey": [False, True], "clf__C": [1e-3, 1e-2]}
    result = search("pixels-softmax", digits.images, digits.labels, grid, cv=2)
    assert capfd.readouterr().err == ""  # a library call shows no progress unless asked
    written = write_search_report(result, tmp_path)
    assert sorted(p.name for p in written) == ["best_params.json", "cv_results.csv", "heatmap.png"]
    with open(tmp_path / "cv_results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and "param_features__grey" in rows[0]
    best = json.loads((tmp_path / "best_params.json").read_text())
    assert set(best["best_params"]) == {"features__grey", "clf__C"}
    assert (tmp_path / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_randomised_search_and_bad_names(digits):
    grid = {"clf__C": {"loguniform": [1e-4, 1e-2]}}
    result = search("pixels-softmax", digits.images, digits.labels, grid, cv=2, n_iter=2)
    assert len(result.cv_results["params"]) == 2
    with pytest.raises(ValueError, match=re.escape("distributions need randomised search")):
        search("pixels-softmax", digits.images, digits.labels, grid, cv=2)
    with pytest.raises(ValueError) as raised:
        search("pixels-softmax", digits.images, digits.labels, {"clf__D": [1], "x": [2]}, cv=2)
    message = str(raised.value)
    assert message.startswith(
        "Unknown grid parameter(s) clf__D, x; the pipeline's parameters include clf__C, "
    )
    assert message.endswith(", ...") and message.count(", ") == 1 + 12


def test_script_writes_results_and_model(tmp_path, capsys):
    argv = ["--pipeline", "pixels-softmax", "--grid", '{"clf__C": [0.0001, 0.001]}', "--cv", "2"]
    assert script.main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"first candidate [\d.]+ s; later ones [\d.]+ s on average", out)
    content = load_model(tmp_path / "best_model.skops")
    assert content["class_names"][:2] == ["0", "1"] and content["input_shape"] == [8, 8]
    assert not (tmp_path / "heatmap.png").exists()  # one parameter: no heat map
    assert script.main([*argv[:2], "--grid", "{", "--out", str(tmp_path)]) == 2
    assert "grid_search.py: The grid is not valid JSON" in capsys.readouterr().err


def test_load_labelled_folder_needs_one_shape(tmp_path):
    import warnings

    from tests.test_batch import make_folder

    root = make_folder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the bad files are warned about
        with pytest.raises(ValueError, match=re.escape("give a size to resize them to one shape")):
            load_labelled(folder=root)
        data = load_labelled(folder=root, size=(16, 16))
    assert data.images.shape == (22, 16, 16, 3) and data.class_names == ["a", "b", "c"]
    assert len(data.failures) == 3
