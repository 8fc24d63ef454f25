"""Tests written for mutants of scripts/mutation.py that no other test caught: each pins one
behaviour of the library that the other tests did not look at closely enough (named in each
test's comment)."""

import io
import json
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin

from features import RawPixels
from pipelines.datasets import load_dataset
from pipelines.model_files import UntrustedModelError, load_model
from pipelines.search import content_key, search

from .test_library_errors import _content


def _schema_names(path):
    """{module.class} of every object a skops file's schema describes."""
    from pipelines.model_files import _nodes

    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    return {name for name, _ in _nodes(schema)}


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits")
    index = np.random.default_rng(0).permutation(len(data))[:200]
    return data.subset(index)


# -- pipelines._charts ---------------------------------------------------------------------------
def test_a_grid_without_any_score_gets_the_colour_scale_0_to_1():
    # _charts.annotated_grid: with no finite value (every candidate failed) the colour scale
    # is [0, 1] and every cell reads "n/a"
    from matplotlib.figure import Figure

    from pipelines._charts import annotated_grid

    ax = Figure().subplots()
    image = annotated_grid(ax, np.full((2, 2), np.nan), fmt="{:.2f}")
    assert (image.norm.vmin, image.norm.vmax) == (0.0, 1.0)
    assert [t.get_text() for t in ax.texts] == ["n/a"] * 4


def test_the_frame_of_the_outlined_cell_covers_exactly_that_cell():
    # _charts.annotated_grid: both frames (white under black) span the outlined cell, one
    # unit wide and high, centred on it
    from matplotlib.figure import Figure

    from pipelines._charts import annotated_grid

    ax = Figure().subplots()
    values = np.random.default_rng(0).random((3, 4))
    annotated_grid(ax, values, fmt="{:.2f}", outline=(2, 1))
    frames = [patch.get_bbox().bounds for patch in ax.patches]
    assert frames == [(0.5, 1.5, 1.0, 1.0)] * 2
    bold = [t.get_text() for t in ax.texts if t.get_fontweight() == "bold"]
    assert bold == [f"{values[2, 1]:.2f}"]


def test_the_accuracy_axis_reaches_chance_only_when_that_costs_less_than_half_of_it():
    # _charts.accuracy_limits: [0.5, 0.7] spans 0.45 to 0.75 (margin 0.05); reaching down to
    # chance 0.2 makes the axis 0.15 to 0.75, less than twice as long: done; reaching 0.1
    # would make it more than twice as long: not done
    from pipelines._charts import accuracy_limits

    assert [round(v, 6) for v in accuracy_limits([0.5, 0.7], chance=0.2)] == [0.15, 0.75]
    assert [round(v, 6) for v in accuracy_limits([0.5, 0.7], chance=0.1)] == [0.45, 0.75]
    assert [round(v, 6) for v in accuracy_limits([0.5, 0.7], chance=0.6)] == [0.45, 0.75]
    # a chance level already at the axis's end (binary fractions: no rounding) is reached
    assert accuracy_limits([0.5, 0.75], chance=0.4375) == (0.4375, 0.8125)
    # and one that would cost exactly half of the axis is not
    assert accuracy_limits([0.5, 0.75], chance=0.0625) == (0.4375, 0.8125)


# -- pipelines.registry -------------------------------------------------------------------------
def test_build_extractor_seeds_with_0_and_reads_dtype_names_only_for_type_parameters():
    # registry.build_extractor: random_state defaults to 0 (an extraction is repeatable
    # without a seed given); a string is read as a NumPy dtype only for a parameter whose
    # default is a type, other strings are passed as they are
    from pipelines.registry import build_extractor

    union = build_extractor(
        {"bovw": {"n_words": 8}, "hog": {"dtype": "float64"}, "color": {"color_space": "hsv"}}
    )
    parts = dict(union.transformer_list)
    assert parts["bovw"].random_state == 0
    assert parts["hog"].dtype is np.float64
    assert parts["color"].color_space == "hsv"
    assert [name for name, _ in union.transformer_list] == ["bovw", "hog", "color"]


# -- pipelines.search ---------------------------------------------------------------------------
def test_a_list_of_arrays_is_keyed_by_every_byte_of_each():
    # search.content_key: images given as a list of arrays are hashed in full (not by their
    # repr, which elides the middle of large arrays), and a list never shares the key of the
    # string that is its parts' digest
    rng = np.random.default_rng(0)
    images = [rng.random((40, 40)), rng.random((40, 40))]
    changed = [images[0], images[1].copy()]
    changed[1][20, 20] += 1.0  # a value repr would show as "..."
    assert content_key(images) == content_key([a.copy() for a in images])
    assert content_key(images) != content_key(changed)
    assert content_key(images) != content_key(images[:1])
    assert content_key(images) != content_key(content_key(*images))


class _WeightedCentre(TransformerMixin, BaseEstimator):
    """Subtracts the weighted mean of the training images: its fit takes sample_weight."""

    def fit(self, X, y=None, sample_weight=None):
        self.mean_ = np.average(X.reshape(len(X), -1), axis=0, weights=sample_weight)
        return self

    def transform(self, X):
        return X.reshape(len(X), -1) - self.mean_


def test_fit_parameters_are_keyed_by_every_byte_of_their_arrays():
    # search.CachedFeatures.fit_transform: two fits whose sample weights differ in one value
    # far inside a large array are two fits, not one answered from the cache (the bug: fit
    # parameters, a list of (name, array) pairs, were keyed by their repr, which elides it)
    from pipelines.search import CachedFeatures, clear_memory_cache

    clear_memory_cache()
    rng = np.random.default_rng(1)
    images = rng.random((3000, 2, 2))
    weights = np.ones(3000)
    other = weights.copy()
    other[1500] = 1000.0
    first = CachedFeatures(_WeightedCentre()).fit_transform(images, sample_weight=weights)
    step = CachedFeatures(_WeightedCentre())
    second = step.fit_transform(images, sample_weight=other)
    assert step.cache_hits_ == 0
    expected = images.reshape(3000, -1) - np.average(
        images.reshape(3000, -1), axis=0, weights=other
    )
    np.testing.assert_allclose(second, expected)
    assert not np.allclose(first, second)
    again = CachedFeatures(_WeightedCentre())
    np.testing.assert_array_equal(again.fit_transform(images, sample_weight=other.copy()), second)
    assert again.cache_hits_ == 1


def test_an_unfitted_feature_cache_says_it_is_not_fitted():
    # search.CachedFeatures.transform / get_feature_names_out: before fit, scikit-learn's
    # NotFittedError; after, the wrapped transformer's feature names
    from sklearn.exceptions import NotFittedError

    from pipelines.search import CachedFeatures

    step = CachedFeatures(RawPixels())
    images = np.zeros((2, 2, 2), np.uint8)
    for call in (lambda: step.transform(images), step.get_feature_names_out):
        with pytest.raises(NotFittedError):
            call()
    step.fit(images)
    assert step.transform(images).shape == (2, 4)
    assert list(step.get_feature_names_out()) == [
        "rawpixels_r0_c0",
        "rawpixels_r0_c1",
        "rawpixels_r1_c0",
        "rawpixels_r1_c1",
    ]


def test_a_search_logs_each_candidate_then_the_best_in_full_lines(digits, caplog):
    # search.search: one INFO line per candidate (number, score, parameters), then the best
    import logging
    import re

    grid = {"clf__C": [0.01, 0.1]}
    with caplog.at_level(logging.INFO, logger="pipelines.search"):
        result = search("pixels-softmax", digits.images, digits.labels, grid, cv=2, cache=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.search"]
    assert len(lines) == 3
    for i, (line, c) in enumerate(zip(lines, grid["clf__C"], strict=False), 1):
        assert re.fullmatch(rf"candidate {i}/2: accuracy \d\.\d{{4}} \(clf__C={c}\)", line), line
    best = result.best_params["clf__C"]
    pattern = rf"best accuracy {result.best_score:.4f} \(clf__C={best}\) in \d+\.\d s"
    assert re.fullmatch(pattern, lines[2]), lines[2]


def test_the_searchs_own_cache_folder_is_removed_even_when_already_gone(
    digits, tmp_path, monkeypatch
):
    # search.search: with worker processes and no cache_dir, the temporary cache folder is
    # the search's own: removed at the end, and a folder that vanished meanwhile (a cleaner
    # of /tmp) does not fail a search that has its results. (The fits run in this process
    # here: only the folder's life is looked at.)
    import contextlib

    import pipelines.search as module

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = []
    mkdtemp = tempfile.mkdtemp

    def recorded(**options):
        made.append(mkdtemp(**options))
        return made[-1]

    monkeypatch.setattr(module.tempfile, "mkdtemp", recorded)
    monkeypatch.setattr(module, "parallel_backend", lambda *args, **kw: contextlib.nullcontext(1))
    fit = module._GridSearch.fit
    grid = {"clf__C": [0.01, 0.1]}
    for vanish in (False, True):

        def fit_then_vanish(self, X, y, vanish=vanish):
            fit(self, X, y)
            assert any(Path(made[-1]).iterdir()), "the features were cached there"
            if vanish:
                shutil.rmtree(made[-1])
            return self

        monkeypatch.setattr(module._GridSearch, "fit", fit_then_vanish)
        module.clear_memory_cache()  # so that the features are written to the folder
        result = search("pixels-softmax", digits.images, digits.labels, grid, cv=2, n_jobs=2)
        assert sorted(result.best_params) == ["clf__C"]
        assert list(tmp_path.iterdir()) == []
    assert len(made) == 2


# -- pipelines.compare --------------------------------------------------------------------------
def test_compare_logs_each_result_in_one_full_line(digits, monkeypatch, caplog):
    # compare.compare: the INFO line of each pipeline gives accuracy, fit time, speed and how
    # the training ended with its iterations, or "no iterations" for a classifier without any
    import logging
    import re

    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from pipelines import registry
    from pipelines.compare import compare

    def ridge():
        steps = [("features", RawPixels()), ("scale", StandardScaler())]
        return Pipeline([*steps, ("clf", RidgeClassifier())])

    monkeypatch.setitem(registry._PIPELINES, "pixels-ridge", (ridge, "no iterations"))
    train, test = digits.subset(np.arange(150)), digits.subset(np.arange(150, 200))
    with caplog.at_level(logging.INFO, logger="pipelines.compare"):
        rows = compare(["pixels-softmax", "pixels-ridge"], train, test)
    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.compare"]
    assert len(lines) == 2
    number = r"\d+\.\d"
    assert re.fullmatch(
        rf"\[1/2\] pixels-softmax: accuracy {number}{{4}}, fit {number} s, \d+ images/s, "
        rf"converged after {rows[0]['iterations']}",
        lines[0],
    ), lines[0]
    assert re.fullmatch(
        rf"\[2/2\] pixels-ridge: accuracy {number}{{4}}, fit {number} s, \d+ images/s, "
        "no iterations",
        lines[1],
    ), lines[1]


def test_write_report_makes_a_missing_output_folder_with_its_parents(tmp_path, monkeypatch, caplog):
    # compare.write_report: out_dir "created if needed", parents included; the files written
    # are listed on the debug log
    import logging

    from matplotlib.figure import Figure

    from pipelines.compare import write_report

    # the figures' pixels are not looked at here: a stand-in file for each
    monkeypatch.setattr(Figure, "savefig", lambda self, path, **options: path.write_bytes(b"png"))

    row = {
        "pipeline": "pixels-svm",
        "accuracy": 0.75,
        "macro_f1": 0.7,
        "fit_seconds": 0.5,
        "predict_images_per_s": 900.0,
        "n_features": 4,
        "iterations": 3,
        "stopped": "converged",
        "note": "",
        "confusion": np.array([[3, 1], [1, 3]]),
    }
    out = tmp_path / "new" / "report"
    with caplog.at_level(logging.DEBUG, logger="pipelines.compare"):
        written = write_report([row], out, ["a", "b"])
    assert [r.getMessage() for r in caplog.records] == [
        "wrote results.csv, results.md, accuracy.png, speed.png, confusion-pixels-svm.png"
    ]
    assert [p.relative_to(out).as_posix() for p in written] == [
        "results.csv",
        "results.md",
        "accuracy.png",
        "speed.png",
        "confusion-pixels-svm.png",
    ]
    assert all(p.stat().st_size > 0 for p in written)


def test_the_accuracy_chart_has_its_intervals_when_the_first_pipeline_failed(tmp_path, monkeypatch):
    # compare.write_report: the number of test images behind the 95 % intervals comes from
    # the first row that has a confusion matrix (the bug: from the first row only, so that a
    # failed first pipeline took the intervals off the chart)
    from matplotlib.figure import Figure

    from pipelines.compare import write_report

    labels = {}

    def keep(figure, path, **options):
        labels[path.name] = figure.axes[0].get_xlabel()

    monkeypatch.setattr(Figure, "savefig", keep)
    good = {
        "pipeline": "pixels-svm",
        "accuracy": 0.75,
        "macro_f1": 0.7,
        "fit_seconds": 0.5,
        "predict_images_per_s": 900.0,
        "n_features": 4,
        "iterations": 3,
        "stopped": "converged",
        "note": "",
        "confusion": np.array([[30, 10], [10, 30]]),
    }
    failed = {**good, "pipeline": "broken", "accuracy": np.nan, "confusion": None}
    write_report([failed, good], tmp_path, ["a", "b"])
    assert labels["accuracy.png"] == "test accuracy (bars: 95 % interval, 80 test images)"
    write_report([failed], tmp_path, ["a", "b"])  # no test image counted: no intervals
    assert labels["accuracy.png"] == "test accuracy"


# -- pipelines.model_files ----------------------------------------------------------------------
def test_a_bit_generator_name_skops_would_not_trust_is_refused_by_name(tmp_path):
    # model_files._refused: a type that only skops' own audit finds (a random generator
    # whose bit generator is named as a string, here numpy.random.seed) is refused like any
    # other untrusted type, before anything in the file is built
    model = RawPixels().fit(np.zeros((1, 8, 8), np.uint8))
    content = _content(model, library={"rng": np.random.default_rng(0)})
    with zipfile.ZipFile(io.BytesIO(sio.dumps(content))) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["schema.json"] = members["schema.json"].replace(b'\\"PCG64\\"', b'\\"seed\\"')
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(UntrustedModelError) as caught:
        load_model(path)
    assert str(caught.value) == (
        f"Refusing to load {str(path)!r}: it holds types that are not trusted: "
        "numpy.random.seed. Load only files you trust; to accept these types, pass them as "
        "trusted."
    )


def test_caches_in_fitted_attributes_are_named_where_they_sit(tmp_path):
    # model_files.save_model (_estimators): a cache is found in a fitted search's
    # best_estimator_, an ensemble's estimator_ and a target transformer's transformer_, not
    # only in the parameters, and each place is named; nothing is written
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import BaggingClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from pipelines.model_files import save_model

    memory = str(tmp_path / "memory")
    rng = np.random.default_rng(0)
    X, y = rng.random((20, 3)), np.arange(20) % 2

    def cached(step):
        return Pipeline([("step", step)], memory=memory)

    models = {
        "best_estimator_": GridSearchCV(cached(LogisticRegression()), {"step__C": [1.0]}, cv=2),
        "estimator_": BaggingClassifier(cached(LogisticRegression()), n_estimators=1),
        "transformer_": TransformedTargetRegressor(
            LinearRegression(), transformer=cached(StandardScaler())
        ),
    }
    for attribute, model in models.items():
        model.fit(X, y.astype(float) if attribute == "transformer_" else y)
        path = tmp_path / "model.skops"
        with pytest.raises(UntrustedModelError) as caught:
            save_model(model, path)
        held = f"a Pipeline with memory={memory!r}"
        parameter = attribute.rstrip("_").replace("best_", "")
        assert str(caught.value) == (
            f"Refusing to save {str(path)!r}: the model holds {held} (model.{parameter}); "
            f"{held} (model.{attribute}). Caching belongs to the search that made the model, "
            "never to a model file."
        )
        assert not path.exists()


def test_a_file_holding_two_caches_names_both(tmp_path):
    # model_files._check_content: every cache a loaded model holds is named, in one line
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from pipelines.model_files import ModelFileError

    clf = LogisticRegression().fit(np.eye(4)[:2], [0, 1])
    inner = Pipeline([("clf", clf)], memory="/var/cache/a")
    model = Pipeline([("inner", inner)], memory="/var/cache/b")
    path = tmp_path / "model.skops"
    sio.dump(_content(model, input_shape=[2, 2], library={}), path)
    with pytest.raises(ModelFileError) as caught:
        load_model(path)
    assert str(caught.value) == (
        f"Model file {str(path)!r} holds a Pipeline with memory='/var/cache/b' (model); a "
        "Pipeline with memory='/var/cache/a' (model.steps.inner), and a model file must never "
        "name files."
    )


def test_a_long_value_is_cut_to_60_characters_in_the_message(tmp_path):
    # model_files._check_content (_short): a bad value is shown whole up to 60 characters,
    # else as its first 57 and "..."
    from pipelines.model_files import ModelFileError

    fitted = RawPixels().fit(np.zeros((1, 8, 8), np.uint8))
    for names, shown in [
        ([1] * 20, "[" + "1, " * 19 + "1]"),  # 60 characters: whole
        ([2] + [1] * 20, "[2, " + "1, " * 17 + "1,..."),  # 63: cut
    ]:
        path = tmp_path / "model.skops"
        sio.dump(_content(fitted, class_names=names, library={}), path)
        with pytest.raises(ModelFileError) as caught:
            load_model(path)
        assert str(caught.value) == (
            f"Model file {str(path)!r} has class_names that are not a list of strings: {shown}."
        )


def test_the_smallest_input_shapes_are_accepted(tmp_path):
    # model_files._check_content: one pixel is a valid image size, grey ([1, 1], [1, 1, 1])
    # or colour ([1, 1, 3])
    from pipelines.model_files import save_model

    for shape in ([1, 1], [1, 1, 1], [1, 1, 3]):
        model = RawPixels().fit(np.zeros((1, *shape), np.uint8))
        path = save_model(model, tmp_path / "one.skops", input_shape=shape)
        assert load_model(path)["input_shape"] == shape


def test_predicted_labels_are_named_by_the_files_class_names(tmp_path):
    # model_files.predict_files: label 0 is the first class name; a label beyond the class
    # names is shown as the label itself
    import cv2
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from pipelines.model_files import predict_files

    rng = np.random.default_rng(0)
    dark = rng.integers(0, 60, (10, 4, 4), dtype=np.uint8)
    light = rng.integers(196, 256, (10, 4, 4), dtype=np.uint8)
    model = Pipeline([("features", RawPixels()), ("clf", LogisticRegression())])
    model.fit(np.concatenate([dark, light]), [0] * 10 + [1] * 10)
    paths = [str(tmp_path / "dark.png"), str(tmp_path / "light.png")]
    assert cv2.imwrite(paths[0], dark[0]) and cv2.imwrite(paths[1], light[0])
    content = {"model": model, "class_names": ["dark", "light"], "input_shape": [4, 4]}
    rows = predict_files(content, paths, n_jobs=1)
    assert [row["class"] for row in rows] == ["dark", "light"]
    rows = predict_files({**content, "class_names": ["dark"]}, paths, n_jobs=1)
    assert [row["class"] for row in rows] == ["dark", "1"]


def test_every_scikit_learn_type_of_the_trust_list_loads(tmp_path):
    # model_files.TRUSTED_SKLEARN: a user's model made of the listed scikit-learn types (fitted,
    # with the optimisers an MLP keeps) is saved and loaded back without trusting anything
    # more
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.decomposition import PCA
    from sklearn.kernel_approximation import AdditiveChi2Sampler, Nystroem, RBFSampler
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        LabelBinarizer,
        LabelEncoder,
        Normalizer,
        StandardScaler,
    )
    from sklearn.svm import SVC, LinearSVC

    from pipelines.model_files import TRUSTED_SKLEARN, save_model

    rng = np.random.default_rng(0)
    X, y = rng.random((30, 4)), np.arange(30) % 3
    union = FeatureUnion(
        [
            ("scale", StandardScaler()),
            ("norm", Normalizer()),
            ("same", FunctionTransformer()),
            ("pca", PCA(2)),
            ("chi2", AdditiveChi2Sampler()),
            ("nystroem", Nystroem(n_components=5)),
            ("rbf", RBFSampler(n_components=5)),
        ]
    )
    parts = {
        "union": Pipeline([("union", union), ("clf", LogisticRegression())]).fit(X, y),
        "kmeans": KMeans(2, n_init=1).fit(X),
        "minibatch": MiniBatchKMeans(2, n_init=1).fit(X),
        "binarizer": LabelBinarizer().fit(y),
        "encoder": LabelEncoder().fit(y),
        **{
            f"sgd_{loss}": SGDClassifier(loss=loss, random_state=0).fit(X, y)  # keeps its loss
            for loss in ("hinge", "modified_huber", "squared_hinge", "log_loss")
        },
        "linear_svc": LinearSVC().fit(X, y),
        "svc": SVC().fit(X, y),
        "mlp_adam": MLPClassifier((3,), max_iter=2),
        "mlp_sgd": MLPClassifier((3,), solver="sgd", max_iter=2),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLPs' two iterations do not converge
        for name in ("mlp_adam", "mlp_sgd"):
            parts[name].fit(X, y)
    model = Pipeline([("clf", parts["union"])])
    model.parts = parts  # kept in the file as an attribute of the model
    path = save_model(model, tmp_path / "model.skops")
    loaded = load_model(path)["model"]
    assert sorted(loaded.parts) == sorted(parts)
    for name in ("svc", "sgd_hinge", "sgd_log_loss"):
        np.testing.assert_array_equal(loaded.parts[name].predict(X), parts[name].predict(X))
    held = set(_schema_names(path))
    assert {name for name in held if name.startswith("sklearn.")} == set(TRUSTED_SKLEARN)


# -- pipelines.lecture --------------------------------------------------------------------------
def test_save_png_writes_a_palette_image_at_80_dpi(tmp_path):
    # lecture.save_png: by default a palette PNG of at most 256 colours at 80 dpi; colors
    # sets the palette's size; colors=None keeps full colour
    from matplotlib.figure import Figure
    from PIL import Image

    from pipelines.lecture import save_png

    figure = Figure(figsize=(2, 1.5))
    ax = figure.subplots()
    ax.imshow(np.random.default_rng(0).random((20, 20, 3)))  # thousands of colours
    cases = [({}, "P", 9, 256), ({"colors": 8}, "P", 2, 8), ({"colors": None}, "RGB", 257, None)]
    path = tmp_path / "figure.png"
    for options, mode, fewest, most in cases:
        save_png(figure, path, **options)
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("PNG", mode, (160, 120))
            colours = len(image.convert("RGB").getcolors(1 << 24))
        assert fewest <= colours <= (most or colours), (options, colours)
    save_png(figure, path, dpi=40)
    with Image.open(path) as image:
        assert image.size == (80, 60)


def test_the_hog_glyphs_are_drawn_in_16_grey_levels_from_black_to_white():
    # lecture.hog_glyphs: each glyph picture is clipped at its brightest 0.5 % and drawn in
    # 16 grey levels, k / 15 for k = 0 ... 15, the darkest black and the brightest white
    from pipelines.lecture import hog_glyphs

    figure = hog_glyphs(fast=True)
    glyphs = [ax.get_images()[0].get_array() for ax in figure.axes[3:]]
    assert len(glyphs) == 3
    for image in glyphs:
        levels = np.unique(np.asarray(image))
        assert np.allclose(levels * 15, np.round(levels * 15))
        assert levels.min() == 0 and levels.max() == 1 and len(levels) > 8


def test_the_codebook_figure_gives_the_words_1_4_times_the_width_of_the_images():
    # lecture.bovw_codebook: the panel of words is 1.4 times as wide as the training images'
    from pipelines.lecture import bovw_codebook

    figure = bovw_codebook(fast=True)
    figure.canvas.draw()
    left, right = figure.subfigs
    widths = [sub.bbox.width for sub in (left, right)]
    assert widths[1] / widths[0] == pytest.approx(1.4, rel=1e-3)


def test_every_lecture_figure_draws_the_full_picture_unless_asked_to_be_fast():
    # lecture.FIGURES: each entry is a function draw(fast=False) (the module's contract), so
    # that calling one directly draws what the script draws
    import inspect

    from pipelines.lecture import FIGURES

    for name, function in FIGURES.items():
        parameters = inspect.signature(function).parameters
        assert list(parameters) == ["fast"], name
        assert parameters["fast"].default is False, name


def test_the_weight_gap_panel_spans_1e_18_to_1e_6():
    # lecture.twenty_lines: the gaps between the two networks' weights, one per step, are
    # drawn on a fixed log axis from 1e-18 to 1e-6
    from pipelines.lecture import twenty_lines

    right = twenty_lines(fast=True).axes[1]
    assert right.get_yscale() == "log"
    assert right.get_ylim() == (1e-18, 1e-6)
    gaps = right.get_lines()[0].get_ydata()
    assert gaps.min() >= 1e-18 and len(gaps) == 20
