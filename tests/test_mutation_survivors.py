"""Tests written for mutants that survived scripts/mutation.py: each pins one behaviour that
no other test looked at closely enough (named in each test)."""

import os
import re
import warnings

import cv2
import numpy as np
import pytest

from pipelines import cli
from pipelines._runtime import check_output_file
from pipelines.batch import extract_folder
from pipelines.datasets import DecodeError, image_shape
from pipelines.model_files import predict_files
from pipelines.serve.settings import parse_pixels

from ._serve import served_model


def _png(path, shape, seed=0):
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def test_an_existing_file_may_be_replaced_but_not_a_fifo(tmp_path):
    # _runtime.check_output_file: a dropped `not` refused every existing regular file
    existing = tmp_path / "model.skops"
    existing.write_bytes(b"old")
    assert check_output_file(existing) == existing
    fifo = tmp_path / "pipe.skops"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="exists and is not a regular file"):
        check_output_file(fifo)


def test_the_pixel_limit_counts_rows_times_columns(tmp_path):
    # datasets.image_shape: a wrong product is invisible on square images
    wide = _png(tmp_path / "wide.png", (10, 40))
    assert image_shape(wide, max_pixels=400) == (10, 40)
    with pytest.raises(DecodeError, match="image of 10x40 pixels is over the limit of 399"):
        image_shape(wide, max_pixels=399)


def test_images_of_another_shape_get_their_own_error(tmp_path):
    # model_files.predict_files: the message of a shape mismatch was never read
    from sklearn.datasets import load_digits

    from pipelines import make

    digits = load_digits()
    images = np.repeat((digits.images[:200] * 16).astype(np.uint8)[..., None], 3, axis=3)
    model = make("pixels-svm", clf__C=0.1).fit(images, digits.target[:200])
    content = {"model": model, "class_names": [str(c) for c in range(10)], "input_shape": None}
    first = _png(tmp_path / "a.png", (8, 8, 3))
    other = _png(tmp_path / "b.png", (9, 8, 3))
    rows = predict_files(content, [str(first), str(other)], n_jobs=1)
    assert rows[0]["error"] is None and rows[0]["class"] in content["class_names"]
    assert rows[1]["error"] == "image of shape (9, 8, 3), not (8, 8, 3)"


def test_served_models_check_the_channels_of_pixel_tensors():
    # serve.models.check_pixels: grey models take 1 channel, colour models 3
    grey, colour = served_model((8, 8)), served_model((8, 8, 3))
    assert grey.check_pixels(np.zeros((2, 8, 8), np.uint8)).shape == (2, 8, 8)
    assert colour.check_pixels(np.zeros((2, 8, 8, 3), np.uint8)).shape == (2, 8, 8, 3)
    with pytest.raises(ValueError, match=r"takes grey images .*got shape \[2, 8, 8, 3\]"):
        grey.check_pixels(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"takes RGB images .*got shape \[2, 8, 8\]"):
        colour.check_pixels(np.zeros((2, 8, 8), np.uint8))


def test_a_pixel_limit_must_be_positive():
    # serve.settings.parse_pixels: the lower bound
    assert parse_pixels("1") == 1 and parse_pixels("3 x 5") == 15
    for text in ("0", "0x10"):
        with pytest.raises(ValueError, match="expected a positive number of pixels"):
            parse_pixels(text)


def test_every_chunk_reports_its_end(tmp_path):
    # batch: the "chunk-done" event, which resuming tests wait for, for each chunk in order
    for i in range(5):
        _png(tmp_path / "in" / "a" / f"{i}.png", (8, 8, 3), seed=i)
    events = []
    manifest = extract_folder(
        tmp_path / "in",
        tmp_path / "out",
        chunk_size=2,
        n_jobs=1,
        on_event=lambda stage, index: events.append((stage, index)),
    )
    assert manifest["n_images"] == 5
    assert [index for stage, index in events if stage == "chunk-done"] == [0, 1, 2]


@pytest.mark.parametrize(
    ("name", "n_features"),
    [
        ("pixels-svm", 3072),
        ("hog-svm", 1764),
        ("color-svm", 384),
        ("hog+color-svm", 708),
        ("bovw-svm", 6400),
    ],
)
def test_the_feature_counts_the_readme_gives(name, n_features):
    # registry: a changed cell size or grid went unnoticed as long as accuracy held up
    from pipelines import make

    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    step = make(name).named_steps["features"]
    if name.startswith("bovw"):  # few words (the count is 4 quadrants x n_words)
        step.set_params(n_words=16, n_training_patches=500)
        n_features = n_features // 1600 * 16
    assert step.fit(images).transform(images).shape == (4, n_features)


def test_an_unknown_feature_names_the_ones_there_are():
    from pipelines.registry import EXTRACTORS, make_extractor

    with pytest.raises(ValueError) as raised:
        make_extractor("sift-ish")
    assert str(raised.value) == f"Unknown feature 'sift-ish'; available: {', '.join(EXTRACTORS)}."


def test_the_summary_of_a_resumed_run_counts_this_run_only():
    # batch.summary_line: the rate of a resumed run was never read
    from pipelines.batch import summary_line

    manifest = {
        "n_images": 100,
        "n_failures": 0,
        "n_features": 8,
        "timings": {"total_seconds": 4.0},
        "run": {"chunks_done_before_start": 3, "files_this_run": 40},
    }
    assert summary_line(manifest) == (
        "100 images, 0 failures, 8 features in 4.0 s (resumed: 40 files read in this run, 10/s)"
    )


def test_a_features_file_of_another_shape_names_both_shapes(tmp_path):
    # _assembly.rows_sha256: the expected shape in its error
    from pipelines._assembly import rows_sha256

    path = tmp_path / "features.npy"
    np.save(path, np.zeros((3, 4), np.float32))
    assert len(rows_sha256(path, (3, 4))) == 64
    with pytest.raises(ValueError, match=r"of shape \(3, 4\); expected float32 of shape \(3, 5\)"):
        rows_sha256(path, (3, 5))
    np.save(path, np.zeros((3, 4), np.float64))
    with pytest.raises(ValueError, match=r"expected float32 of shape \(n, n_features\)\.$"):
        rows_sha256(path)


def test_a_closed_batcher_says_so():
    # serve.batching.MicroBatcher.submit after close
    import asyncio

    from pipelines.serve.batching import MicroBatcher

    async def main():
        batcher = MicroBatcher(lambda items: items, max_batch=2, max_wait=0.01, name="digits")
        batcher.start()
        assert await batcher.submit([1]) == [1]
        await batcher.close()
        with pytest.raises(RuntimeError, match=r"^The batcher of 'digits' is not running\.$"):
            await batcher.submit([2])

    asyncio.run(main())


def test_extract_lists_five_failures_then_counts_the_rest(capsys):
    # cli.extract.report: the first five failures, then one line for the others
    from pipelines.cli.extract import report

    failures = [{"path": f"a/{i}.png", "reason": "empty file"} for i in range(7)]
    manifest = {
        "n_images": 3,
        "n_failures": 7,
        "n_features": 8,
        "failures": failures,
        "timings": {"total_seconds": 1.0},
    }
    report("extract", manifest, "DIR")
    err = capsys.readouterr().err.splitlines()
    assert err == [f"extract: failed: a/{i}.png: empty file" for i in range(5)] + [
        "extract: ... and 2 more (see manifest.json)"
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--pipeline", "pixels-svm"],
        ["search", "--pipeline", "pixels-svm", "--grid", "{}"],
        ["extract", "INPUT"],
        ["features", "extractor.skops", "INPUT"],
    ],
)
def test_commands_that_write_need_their_output(argv, capsys):
    # the required --out of every command that writes files
    from pipelines import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_a_plain_byte_count_is_bytes():
    # serve.settings.parse_bytes: the unit of a number without a suffix
    from pipelines.serve.settings import parse_bytes

    assert parse_bytes("100") == 100 and parse_bytes("100b") == 100 and parse_bytes("1kib") == 1024


def test_every_script_runs_as_a_program():
    # scripts/*.py: `if __name__ == "__main__"` is only reached when run as a program
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    wrappers = ["compare", "extract_features", "train", "predict", "grid_search", "show_hog"]
    wrappers += ["lecture", "serve"]
    for name in wrappers:
        done = subprocess.run(
            [sys.executable, str(root / "scripts" / f"{name}.py"), "--help"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(root)},
            timeout=120,
        )
        assert done.returncode == 0 and done.stdout.startswith(f"usage: {name}.py"), name


def test_the_service_reports_an_unknown_version_when_not_installed(monkeypatch):
    # serve.responses.version: the server metadata's version, from a source checkout
    from importlib import metadata

    from pipelines.serve.responses import version

    assert version() == metadata.version("visionfeatures")

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert version() == "unknown"


def test_cell_labels_take_the_text_colour_of_higher_contrast():
    # _charts.text_color against WCAG 2's contrast ratio, computed here from its definition
    from pipelines._charts import text_color

    def luminance(rgb):
        c = np.asarray(rgb, dtype=float)
        linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(linear @ [0.2126, 0.7152, 0.0722])

    greys = [(g, g, g) for g in np.linspace(0, 1, 101)]
    colours = greys + [tuple(c) for c in np.random.default_rng(0).random((300, 3))]
    checked = 0
    for colour in colours:
        lum = luminance(colour)
        on_black, on_white = (lum + 0.05) / 0.05, 1.05 / (lum + 0.05)
        if abs(on_black - on_white) < 1e-6:
            continue  # a tie: either colour reads as well
        expected = "black" if on_black > on_white else "white"
        assert text_color((*colour, 1.0)) == expected, (colour, on_black, on_white)
        checked += 1
    assert checked > 350


def test_the_summary_compares_a_second_candidate_with_the_first(tmp_path, capsys):
    # cli.search: the timing summary is printed from two candidates on
    argv = ["search", "--pipeline", "pixels-softmax", "--dataset", "digits", "--cv", "2", "-q"]
    argv += ["--grid", '{"clf__C": [0.0001, 0.001]}', "--no-cache", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    last = capsys.readouterr().out.splitlines()
    summary = [line for line in last if line.startswith("first candidate ")]
    assert len(summary) == 1, last
    pattern = r"first candidate [\d.]+ s; later ones [\d.]+ s on average \(\d+% of the first, "
    assert re.fullmatch(pattern + r"at most \d+%\)", summary[0]), summary[0]
    first, later, share, most = map(float, re.findall(r"[\d.]+", summary[0]))
    # the times are printed to 1 ms and the share to 1 %: the bounds those roundings leave
    low, high = 100 * (later - 5e-4) / (first + 5e-4), 100 * (later + 5e-4) / (first - 5e-4)
    assert low - 0.5 <= share <= high + 0.5 and share <= most
    written = sorted(path.name for path in tmp_path.iterdir())
    assert last[-1] == f"wrote {len(written)} files to {tmp_path}/ (best_model.skops, ...)"


def test_lecture_says_when_it_cannot_create_its_folder(tmp_path, capsys):
    # cli.lecture: --out under a regular file
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "figures"
    assert cli.main(["lecture", "hog", "--out", str(out), "--fast"]) == 1
    err = capsys.readouterr().err
    assert err == f"visionfeatures lecture: cannot create --out {str(out)!r}: Not a directory\n"


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_help_names_and_explains_every_positional_argument(command):
    # --help: a positional has no option string, so its name and help line are all there is;
    # and every name shown for a value (a metavar) is a word in the usage line
    import argparse

    parser = cli.COMMANDS[command].build_parser(f"visionfeatures {command}")
    usage = parser.format_usage()
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if action.metavar is not None:
            names = action.metavar if isinstance(action.metavar, tuple) else [action.metavar]
            assert all(name.strip() and name in usage for name in names), (command, names)
        if not action.option_strings:
            assert action.help and action.help.strip(), (command, action.dest)


def test_the_hog_picture_of_a_wide_image_is_wide(tmp_path, capsys):
    # cli.show_hog: the figure takes the image's aspect (two panels side by side)
    image = _png(tmp_path / "wide.png", (64, 192, 3))
    out = tmp_path / "hog.png"
    assert cli.main(["show-hog", str(image), "--out", str(out), "-q"]) == 0
    rows, cols = cv2.imread(str(out)).shape[:2]
    assert abs(rows / cols - 64 / 192 / 2) < 0.02, (rows, cols)


def test_a_size_tie_names_both_sizes(tmp_path):
    # batch._common_shape: the two sizes of a tie, rows x cols each
    _png(tmp_path / "in" / "a" / "0.png", (8, 12, 3))
    _png(tmp_path / "in" / "b" / "0.png", (10, 14, 3))
    with pytest.raises(ValueError) as raised:
        extract_folder(tmp_path / "in", tmp_path / "out", n_jobs=1)
    sizes = re.search(r"\((\S+) and (\S+): 1 images each, and maybe others\)", str(raised.value))
    assert sizes and sorted(sizes.groups()) == ["10x14", "8x12"], str(raised.value)


def test_a_folder_that_cannot_be_listed_says_why(tmp_path, monkeypatch):
    # datasets.list_image_files: an OSError while listing (as root, permissions never refuse)
    from pipelines import datasets

    def refuse(folder):
        raise PermissionError(13, "Permission denied", folder)

    monkeypatch.setattr(datasets, "_scan", refuse)
    message = f"Cannot list image folder {str(tmp_path)!r}: Permission denied."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        datasets.list_image_files(tmp_path)


def test_a_flat_folder_has_no_labels_to_train_on(tmp_path):
    # datasets.load_labelled: a folder without class folders
    from pipelines.datasets import load_labelled

    _png(tmp_path / "0.png", (8, 8, 3))
    message = f"{str(tmp_path)!r} has no class folders, so its images have no labels."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_labelled(folder=tmp_path, n_jobs=1)


def test_every_trusted_sklearn_type_is_saved_and_loaded_without_asking(tmp_path):
    # model_files.TRUSTED_SKLEARN: a model holding any of them needs no trusted=
    import importlib
    import warnings

    from sklearn.linear_model import SGDClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler

    from pipelines.model_files import TRUSTED_SKLEARN, load_model, save_model

    def model(cls):
        if cls in (Pipeline, FeatureUnion):
            return cls([("scale", StandardScaler())])
        if cls.__name__.endswith("Optimizer"):  # held by a fitted MLP as its solver
            solver = "adam" if cls.__name__.startswith("Adam") else "sgd"
            mlp = MLPClassifier((2,), solver=solver, max_iter=1, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # not converged, on purpose
                return mlp.fit(np.eye(2), [0, 1])
        if cls in LOSSES:  # held by a fitted SGDClassifier as its loss
            sgd = SGDClassifier(loss=LOSSES[cls], max_iter=5, tol=None, random_state=0)
            return sgd.fit(np.eye(2), [0, 1])
        return cls()

    def held(model, cls):
        if cls.__name__.endswith("Optimizer"):
            return model._optimizer
        return model._loss_function_ if cls in LOSSES else model

    LOSSES = {
        getattr(importlib.import_module(module), name): loss
        for module, name, loss in (
            ("sklearn.linear_model._sgd_fast", "Hinge", "hinge"),
            ("sklearn.linear_model._sgd_fast", "ModifiedHuber", "modified_huber"),
            ("sklearn.linear_model._sgd_fast", "SquaredHinge", "squared_hinge"),
            ("sklearn._loss._loss", "CyHalfBinomialLoss", "log_loss"),
        )
    }
    for i, name in enumerate(TRUSTED_SKLEARN):
        module, _, qualname = name.rpartition(".")
        cls = getattr(importlib.import_module(module), qualname)
        loaded = load_model(save_model(model(cls), tmp_path / f"{i}.skops"))["model"]
        assert type(held(loaded, cls)) is cls, name
    assert len(TRUSTED_SKLEARN) == len(set(TRUSTED_SKLEARN))


def test_byte_units_are_decimal_and_binary_as_written():
    # serve.settings.parse_bytes: k, M, G are powers of 1000, KiB, MiB, GiB of 1024
    from pipelines.serve.settings import parse_bytes

    for power, letter in enumerate("kmg", 1):
        assert parse_bytes(f"3{letter}") == parse_bytes(f"3{letter.upper()}B") == 3 * 1000**power
        assert parse_bytes(f"3{letter}ib") == 3 * 1024**power


def test_the_settings_defaults_are_the_documented_ones():
    # serve.settings.Settings: its docstring gives each default (the command's --help too)
    import dataclasses
    import inspect
    import math

    from pipelines.serve.settings import Settings, parse_bytes

    def value(text):
        if text == "None":
            return None
        if "*" in text:
            return math.prod(int(part) for part in text.split("*"))
        if re.fullmatch(r"\d+", text):
            return int(text)
        if re.fullmatch(r"\d+\.\d*", text):
            return float(text)
        return parse_bytes(text.replace(" ", ""))

    doc = inspect.cleandoc(Settings.__doc__)
    documented = dict(re.findall(r"^(\w+) : [^\n]*default=(.+)$", doc, re.M))
    assert set(documented) == {field.name for field in dataclasses.fields(Settings)}
    defaults = Settings()
    for name, text in documented.items():
        assert getattr(defaults, name) == value(text), (name, text)


def test_the_no_activation_figure_shows_the_rings_where_they_are():
    # lecture.no_activation: the points drawn over each panel are the training data
    from models import lecture as lec
    from pipelines.lecture import draw

    X, _ = lec.rings(noise=0.1)
    figure = draw("no-activation", fast=True)
    offsets = [np.asarray(c.get_offsets()) for ax in figure.axes for c in ax.collections]
    points = [o for o in offsets if len(o) > 1]  # a contour's collections have one offset
    assert len(points) == 3
    for drawn in points:
        np.testing.assert_array_equal(np.asarray(drawn), X)


def test_a_model_file_the_loader_cannot_read_is_named_with_the_error(tmp_path, monkeypatch):
    # serve.models.load_served: an error of the loader that does not name the file
    from pipelines.serve import models

    def damaged(path, **options):
        raise KeyError("schema.json")

    monkeypatch.setattr(models, "load_model", damaged)
    path = tmp_path / "m.skops"
    message = f"Cannot load model file {str(path)!r}: KeyError: 'schema.json'"
    with pytest.raises(models.ModelFileError, match=f"^{re.escape(message)}$"):
        models.load_served("m", path)


def test_a_config_error_points_at_its_line_and_column(tmp_path):
    # cli.extract.read_config: where YAML stopped, counted from 1 as editors do
    from pipelines.cli.extract import read_config

    path = tmp_path / "features.yaml"
    path.write_text("hog:\n  orientations: [9, 12\ncolor: {bins: 8}\n")
    message = (
        f"Config file {str(path)!r} is not valid YAML or JSON at line 3, column 6: "
        "expected ',' or ']', but got ':'."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_config(str(path))


@pytest.mark.parametrize("command", ["train", "search", "compare"])
def test_the_help_lists_each_named_pipeline_on_its_line(command):
    # cli._common.parser_for(pipelines=True): one line per pipeline, name then description
    from pipelines import available, describe

    text = cli.COMMANDS[command].build_parser(command).format_help()
    lines = text.splitlines()
    for name in available():
        assert f"  {name:18s} {describe(name)}" in lines, name


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--dataset", "digits", "--out", "m.skops"],
        ["search", "--grid", "{}", "--out", "o"],
    ],
)
def test_commands_that_fit_need_a_pipeline(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert "the following arguments are required: --pipeline" in capsys.readouterr().err


# Options without a help text today (their choices or names say what they take); a new
# option without one fails the test below.
_NO_HELP_YET = set()


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_help_explains_every_option(command):
    parser = cli.COMMANDS[command].build_parser(f"visionfeatures {command}")
    unexplained = {
        (command, action.option_strings[-1])
        for action in parser._actions
        if action.option_strings and not (action.help or "").strip()
    }
    assert unexplained == {key for key in _NO_HELP_YET if key[0] == command}


def test_a_grey_image_is_shown_grey(tmp_path):
    # cli.show_hog: the grey image with a grey colour map (matplotlib's default is viridis)
    image = _png(tmp_path / "photo.png", (64, 64, 3))
    out = tmp_path / "hog.png"
    assert cli.main(["show-hog", str(image), "--grey", "--out", str(out), "-q"]) == 0
    picture = cv2.imread(str(out)).astype(int)  # image, glyphs, titles: all grey
    assert np.abs(np.diff(picture, axis=2)).max() <= 2


def test_the_accuracy_axis_of_a_single_result_is_tight():
    # _charts.accuracy_limits: one accuracy is a result to zoom on, not "no data" (0 to 1)
    from pipelines._charts import accuracy_limits

    low, high = accuracy_limits([0.9])
    assert (round(low, 3), round(high, 3)) == (0.88, 0.92)
    assert accuracy_limits([]) == (0.0, 1.0) and accuracy_limits([np.nan]) == (0.0, 1.0)


def test_a_param_of_none_or_null_in_any_case_is_none():
    # cli.extract.parse_value: YAML's and Python's spellings of "no value"
    from pipelines.cli.extract import parse_value

    assert [parse_value(text) for text in ("none", "None", "NULL", "null")] == [None] * 4


def test_the_top_level_usage_names_the_command():
    assert cli.build_parser().format_usage().startswith("usage: visionfeatures ")


def test_a_grey_tensor_over_the_pixel_limit_is_refused_before_its_data_is_read():
    # serve.oip: the limit applies to [n, rows, cols] tensors as to [n, rows, cols, 3]
    from pipelines.serve import oip

    for shape in ([1, 50, 50], [1, 50, 50, 3]):
        with pytest.raises(oip.ApiError) as raised:
            oip._uint8_images({}, shape, None, None, max_pixels=1600)
        assert raised.value.status == 400
        assert raised.value.detail == (
            "images of 50x50 pixels are over the limit of 1600 pixels (--max-pixels)"
        )


def test_every_request_body_of_the_api_document_has_a_typed_schema():
    # serve.app: the document a client generator reads (no server needed to build it)
    from pipelines.serve.app import create_app

    document = create_app({}).openapi()
    kinds = {"object", "array", "string", "integer", "number", "boolean"}
    bodies = 0
    for path, operations in document["paths"].items():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            for media, body in content.items():
                assert body["schema"]["type"] in kinds, (path, media)
                for name, field in body["schema"].get("properties", {}).items():
                    assert field["type"] in kinds and field["items"]["type"] in kinds, name
                bodies += 1
    assert bodies >= 7


def test_a_users_tmp_file_is_not_taken_for_the_jobs_own(tmp_path):
    # batch._is_own: only hidden .tmp files are the job's; a user's notes.tmp stops the run
    _png(tmp_path / "in" / "a" / "0.png", (8, 8, 3))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.tmp").write_text("mine")
    with pytest.raises(
        ValueError, match=r"is not empty and holds no extraction run \(notes\.tmp\)"
    ):
        extract_folder(tmp_path / "in", tmp_path / "out", n_jobs=1)
    assert (tmp_path / "out" / "notes.tmp").read_text() == "mine"


def test_a_grid_file_that_is_neither_json_nor_yaml_says_so(tmp_path):
    from pipelines.search import parse_grid

    path = tmp_path / "grid.yaml"
    path.write_text("clf__C: [0.1, 1\n")
    with pytest.raises(ValueError) as raised:
        parse_grid(str(path))
    message = str(raised.value)
    assert message.startswith(f"The grid file {str(path)!r} is not valid JSON or YAML: ")


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "10"])
def test_a_pixel_limit_that_is_not_a_positive_int_is_named(value):
    from pipelines.datasets import check_max_pixels

    with pytest.raises(ValueError) as raised:
        check_max_pixels(value)
    assert str(raised.value) == f"max_pixels must be a positive int; got {value!r}."


def test_extractors_left_unseeded_take_the_runs_seed_and_given_seeds_are_kept():
    from pipelines.registry import build_extractor

    union = build_extractor({"bovw": {"n_words": 8}, "pixels": {}}, random_state=7)
    assert dict(union.transformer_list)["bovw"].random_state == 7
    union = build_extractor({"bovw": {"n_words": 8, "random_state": 3}}, random_state=7)
    assert dict(union.transformer_list)["bovw"].random_state == 3


def test_the_hog_glyphs_figure_gives_each_image_its_width_and_height():
    import skimage.data

    from pipelines.lecture import hog_glyphs

    figure = hog_glyphs(fast=True)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title().startswith("chelsea")]
    rows, cols = skimage.data.chelsea()[::3, ::3].shape[:2]
    assert rows != cols and titles == [f"chelsea, {cols}x{rows} pixels"]


def test_an_interrupted_features_run_says_it_resumes(tmp_path, monkeypatch, capsys):
    import pipelines.batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipelines.batch, "apply_extractor", interrupted)
    argv = ["features", str(tmp_path / "extractor.skops"), str(tmp_path), "--out"]
    assert cli.main([*argv, str(tmp_path / "out"), "-q"]) == 130
    err = capsys.readouterr().err
    assert "interrupted; run the same command again to resume where it stopped" in err


def test_a_positive_int_option_takes_1_and_refuses_0():
    import argparse

    from pipelines.cli._common import positive_int

    assert positive_int("1") == 1
    with pytest.raises(argparse.ArgumentTypeError, match="expected a positive integer; got '0'"):
        positive_int("0")


def test_features_says_a_scheduler_needs_dask(tmp_path, capsys):
    argv = ["features", str(tmp_path / "e.skops"), str(tmp_path), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as raised:
        cli.main([*argv, "--scheduler", "tcp://127.0.0.1:1"])
    assert raised.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith("error: --scheduler needs --backend dask")


def test_a_folder_without_write_permission_is_refused_by_name(tmp_path, monkeypatch):
    # _runtime._writable_folder (root may write anywhere, so os.access is made to say no)
    from pipelines._runtime import check_output_folder

    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError) as raised:
        check_output_folder(tmp_path / "out")
    assert str(raised.value) == (
        f"Cannot write into output folder {str(tmp_path / 'out')!r}: permission denied."
    )


def test_jsonable_keeps_none_and_plain_values_and_spells_out_the_rest():
    from pathlib import PurePosixPath

    from pipelines._runtime import jsonable

    value = {"a": None, 1: (np.float32(0.5), True), "path": PurePosixPath("/x"), "t": int}
    assert jsonable(value) == {
        "a": None,
        "1": [0.5, True],
        "path": "PurePosixPath('/x')",
        "t": "int",
    }


def test_the_api_document_declares_each_path_parameter_and_describes_each_error():
    # serve.app / serve.oip: the routes read their parameters from the request, so the
    # document has them only through openapi_extra
    from http import HTTPStatus

    from pipelines.serve.app import create_app

    document = create_app({}).openapi()
    for path, operations in document["paths"].items():
        variables = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in operations.items():
            where = f"{method} {path}"
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == variables, where
            assert operation["summary"] and operation["tags"], where
            assert all(isinstance(tag, str) and tag.strip() for tag in operation["tags"]), where
            for status, answer in operation["responses"].items():
                if status == "200" or "schema" in str(answer):  # FastAPI's own 422
                    continue
                example = answer["content"]["application/json"]["example"]
                assert answer["description"] and example["error"], (where, status)
                # the service's own words, not FastAPI's stand-in for an empty description
                assert answer["description"] != HTTPStatus(int(status)).phrase, (where, status)
    image_routes = [p for p in document["paths"] if p.startswith("/v1/models/{name}/")]
    assert len(image_routes) == 3
    assert all(document["paths"][p]["post"]["tags"] == ["inference"] for p in image_routes)
    for path in image_routes:
        assert set(document["paths"][path]["post"]["responses"]) >= {
            "400",
            "401",
            "404",
            "413",
            "415",
            "422",
        }, path


def test_an_unexpected_error_is_a_one_line_500(caplog):
    # serve.app's last exception handler: the service's error format, status 500, and the
    # traceback in the log (not in the answer)
    import asyncio

    import httpx

    from pipelines.serve.app import create_app

    app = create_app({})

    @app.get("/crash")
    async def crash():
        raise RuntimeError("a bug")

    async def ask():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/crash")

    answer = asyncio.run(ask())
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error", "detail": "RuntimeError: a bug"}
    assert "error answering GET /crash" in caplog.text and "Traceback" in caplog.text


@pytest.fixture(scope="module")
def digits_model_file(tmp_path_factory):
    """A small fitted pixels-svm on digits, saved as a model file."""
    from sklearn.datasets import load_digits

    from pipelines import make
    from pipelines.model_files import save_model

    digits = load_digits()
    images = (digits.images[:300] * 16).astype(np.uint8)
    model = make("pixels-svm", clf__C=0.1).fit(images, digits.target[:300])
    path = tmp_path_factory.mktemp("model") / "digits.skops"
    return save_model(model, path, class_names=[str(c) for c in range(10)], input_shape=(8, 8))


def test_a_model_file_of_exactly_the_byte_limit_loads(digits_model_file, tmp_path, monkeypatch):
    # model_files: the file's size, and its members' decompressed size, may reach the limit
    import zipfile

    from pipelines import model_files

    packed = tmp_path / "packed.skops"  # compressed: the members are larger than the file
    with zipfile.ZipFile(digits_model_file) as source, zipfile.ZipFile(packed, "w") as copy:
        for info in source.infolist():
            copy.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
    for path in (digits_model_file, packed):
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            members = sum(info.file_size for info in archive.infolist())
        monkeypatch.setattr(model_files, "_MAX_MODEL_BYTES", max(size, members))
        assert model_files.load_model(path)["input_shape"] == [8, 8]
        monkeypatch.setattr(model_files, "_MAX_MODEL_BYTES", max(size, members) - 1)
        with pytest.raises(model_files.ModelFileError) as raised:
            model_files.load_model(path)
        if size > members:
            assert str(raised.value) == f"Model file {str(path)!r} is larger than {size - 1} bytes."
        else:
            assert f"its members would take {members} bytes decompressed" in str(raised.value)
    assert packed.stat().st_size < digits_model_file.stat().st_size  # both checks were reached


def test_a_served_model_describes_its_file_steps_and_libraries(digits_model_file):
    from pipelines.serve.models import load_served

    model = load_served("digits", str(digits_model_file))
    described = model.description()
    assert described["file"] == "digits.skops"
    assert [step["name"] for step in described["steps"]["steps"]] == ["features", "scale", "clf"]
    assert set(described["library"]) == {"file", "server"}
    assert described["library"]["server"]["scikit-learn"] == __import__("sklearn").__version__


def test_worker_processes_get_the_models_settings_and_key_of_the_command(
    digits_model_file, tmp_path, monkeypatch
):
    # cli.serve --workers passes everything through the environment to
    # serve.app.create_app_from_environment, which each worker process calls
    import uvicorn

    from pipelines.serve.app import create_app_from_environment

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    # the command sets both in os.environ: set here first, so that the test leaves neither
    monkeypatch.setenv("VISIONFEATURES_SERVE", "")
    (tmp_path / "metrics").mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    argv = ["serve", f"d={digits_model_file}", "--workers", "2", "--max-batch", "5"]
    argv += ["--max-pixels", "40x40", "--max-images", "7", "--api-key-file", str(key)]
    argv += ["--trust", "sklearn.dummy.DummyClassifier"]
    assert cli.main(argv) == 0
    ((args, kwargs),) = calls
    assert args == ("pipelines.serve.app:create_app_from_environment",)
    assert kwargs["factory"] is True and kwargs["workers"] == 2
    import pipelines.serve.models

    loaded = []
    real = pipelines.serve.models.load_served

    def load_served(*args, **kwargs):
        loaded.append(kwargs["trusted"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipelines.serve.models, "load_served", load_served)
    app = create_app_from_environment()
    assert loaded == [["sklearn.dummy.DummyClassifier"]]
    service = app.state.service
    assert list(service.models) == ["d"]
    assert service.models["d"].path == str(digits_model_file)
    settings = service.settings
    assert (settings.max_batch, settings.max_images, settings.max_pixels) == (5, 7, 1600)
    assert settings.api_key == "s3cret"
    assert "s3cret" not in os.environ["VISIONFEATURES_SERVE"]


def test_serve_logs_at_the_level_its_options_ask_for():
    import argparse

    from pipelines.cli.serve import log_level

    levels = [
        log_level(argparse.Namespace(quiet=q, verbose=v))
        for q, v in ((True, False), (False, True), (False, False))
    ]
    assert levels == ["warning", "debug", "info"]


def test_features_records_the_extractor_it_applied_and_refuses_one_of_unknown_shape(tmp_path):
    # batch.apply_extractor: the manifest names the extractor file by its SHA-256; a file
    # whose input shape is missing or not rows x cols (x 3) was not written by an extraction
    import hashlib
    import json

    from pipelines.batch import apply_extractor
    from pipelines.model_files import load_model, save_model

    for i in range(3):
        _png(tmp_path / "in" / "a" / f"{i}.png", (8, 8, 3), seed=i)
    extract_folder(tmp_path / "in", tmp_path / "first", features={"pixels": {}}, n_jobs=1)
    extractor = tmp_path / "first" / "extractor.skops"
    manifest = apply_extractor(extractor, tmp_path / "in", tmp_path / "again", n_jobs=1)
    assert manifest["parameters"]["extractor_sha256"] == (
        hashlib.sha256(extractor.read_bytes()).hexdigest()
    )
    written = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert written["parameters"] == manifest["parameters"]
    union = load_model(extractor)["model"]
    for shape in (None, (8, 8, 1)):
        odd = save_model(union, tmp_path / f"odd-{shape}.skops", input_shape=shape)
        with pytest.raises(ValueError) as raised:
            apply_extractor(odd, tmp_path / "in", tmp_path / f"out-{shape}", n_jobs=1)
        assert str(raised.value) == (
            f"{str(odd)!r} does not say the shape of its images (input_shape); it was not "
            "written by an extraction."
        )
    fine = save_model(union, tmp_path / "fine.skops", input_shape=(8, 8, 3))
    done = apply_extractor(fine, tmp_path / "in", tmp_path / "fine", n_jobs=1)
    assert (done["n_files"], done["n_images"], done["n_failures"]) == (3, 3, 0)


def test_a_size_takes_one_row_or_one_column_and_refuses_zero():
    import argparse

    from pipelines.cli._common import size_pair

    assert [size_pair(text) for text in ("1,5", "5,1", "1,1")] == [(1, 5), (5, 1), (1, 1)]
    for text in ("0,5", "5,0", "-1,4"):
        with pytest.raises(argparse.ArgumentTypeError) as raised:
            size_pair(text)
        assert str(raised.value) == f"ROWS and COLS must be positive; got {text!r}"


def test_a_param_for_a_feature_not_chosen_names_the_chosen_ones():
    from pipelines.cli.extract import parse_features

    with pytest.raises(ValueError) as raised:
        parse_features("hog,pixels", ["color.bins=4"], None)
    assert str(raised.value) == (
        "Setting 'color.bins=4' is for feature 'color', which is not among the chosen "
        "features (hog, pixels)."
    )


def test_lecture_all_draws_every_figure_once(tmp_path, monkeypatch, capsys):
    from matplotlib.figure import Figure

    import pipelines.lecture
    from pipelines.cli.lecture import NAMES

    drawn = []

    def small(name, *, fast=False):
        drawn.append((name, fast))
        return Figure(figsize=(1, 1))

    monkeypatch.setattr(pipelines.lecture, "draw", small)
    assert cli.main(["lecture", "all", "--fast", "--out", str(tmp_path)]) == 0
    assert drawn == [(name, True) for name in NAMES]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.png" for n in NAMES)
    assert capsys.readouterr().out.count("wrote ") == len(NAMES)


def test_an_unknown_extractor_parameter_lists_the_valid_ones():
    from features import RawPixels
    from pipelines.registry import check_feature_spec

    valid = ", ".join(sorted(RawPixels().get_params(deep=False)))
    with pytest.raises(ValueError) as raised:
        check_feature_spec({"pixels": {"bins": 4, "alpha": 1}})
    assert str(raised.value) == (
        f"Unknown parameter(s) alpha, bins of feature 'pixels' (RawPixels); valid: {valid}."
    )


def test_every_random_part_of_a_named_pipeline_is_seeded_with_0():
    # the comparison's numbers are reproducible run to run, and the same for every pipeline
    from pipelines import available, make

    for name in available():
        seeds = {
            key: value
            for key, value in make(name).get_params().items()
            if key.endswith("random_state")
        }
        assert seeds and set(seeds.values()) == {0}, (name, seeds)


def test_a_grid_of_one_value_gets_colours_and_readable_labels():
    # _charts.annotated_grid: equal values (a grid of one score) must not make the colour
    # scale empty or reversed
    from matplotlib.figure import Figure

    from pipelines._charts import annotated_grid

    ax = Figure().subplots()
    image = annotated_grid(ax, np.full((2, 3), 0.5), fmt="{:.2f}")
    norm = image.norm
    assert norm.vmin == 0.5 and norm.vmax > norm.vmin
    assert [t.get_text() for t in ax.texts] == ["0.50"] * 6


def test_features_refuses_a_model_file_that_holds_a_bare_extractor(tmp_path):
    # batch._read_extractor_file: only a FeatureUnion written by an extraction is applied
    from features import RawPixels
    from pipelines.batch import apply_extractor
    from pipelines.model_files import save_model

    images = np.zeros((2, 8, 8, 3), np.uint8)
    path = save_model(RawPixels().fit(images), tmp_path / "raw.skops", input_shape=(8, 8, 3))
    _png(tmp_path / "in" / "a" / "0.png", (8, 8, 3))
    with pytest.raises(ValueError) as raised:
        apply_extractor(path, tmp_path / "in", tmp_path / "out", n_jobs=1)
    assert str(raised.value) == (
        f"{str(path)!r} holds a RawPixels, not a feature extractor written by an extraction "
        "(its extractor.skops); to classify images use predict."
    )


@pytest.mark.parametrize("command", ["extract", "features"])
def test_a_refused_output_inside_the_input_leaves_nothing_behind(command, tmp_path, capsys):
    # cli.extract / cli.features check --out before the job without making it: the job
    # refuses an output inside its input, which must not be left there as an empty class
    _png(tmp_path / "in" / "a" / "0.png", (8, 8, 3))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    if command == "extract":
        argv = ["extract", str(tmp_path / "in")]
    else:
        extract_folder(tmp_path / "in", tmp_path / "first", features={"pixels": {}}, n_jobs=1)
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        argv = ["features", str(tmp_path / "first" / "extractor.skops"), str(tmp_path / "in")]
    assert cli.main([*argv, "--out", str(tmp_path / "in" / "out"), "-q"]) == 1
    assert "is inside the input folder" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(("input_shape", "chunks"), [((8, 8, 3), [2, 2, 1]), (None, [5])])
def test_predict_goes_by_chunks_unless_the_first_image_sets_the_shape(
    input_shape, chunks, tmp_path, monkeypatch, capsys
):
    # cli.predict: a model file without input_shape predicts the images of the first one's
    # shape, a rule over the whole list: one chunk
    import pipelines.cli.predict
    import pipelines.model_files

    monkeypatch.setattr(pipelines.cli.predict, "_CHUNK", 2)
    monkeypatch.setattr(
        pipelines.model_files, "load_model", lambda *a, **k: {"input_shape": input_shape}
    )
    seen = []

    def predict_files(content, paths, **options):
        seen.append(len(paths))
        return [{"path": p, "class": "a", "probability": None, "error": None} for p in paths]

    monkeypatch.setattr(pipelines.model_files, "predict_files", predict_files)
    paths = [str(tmp_path / f"{i}.png") for i in range(5)]
    assert cli.main(["predict", str(tmp_path / "m.skops"), *paths, "-q"]) == 0
    assert seen == chunks
    assert capsys.readouterr().out.count("\n") == 6  # the header and a row per image


def test_the_size_check_of_a_model_file_reaches_every_nested_estimator():
    # model_files._estimators: steps and union parts by name, and the fitted copies that
    # meta-estimators keep (best_estimator_, estimator_, transformer_)
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.feature_selection import SelectFromModel
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import StandardScaler

    from pipelines import make
    from pipelines.model_files import _estimators

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), np.arange(40) % 2
    owners = [owner for owner, _ in _estimators(make("hog+color-svm"))]
    assert owners[:4] == [
        "model",
        "model.steps.features",
        "model.steps.features.transformer_list.hog",
        "model.steps.features.transformer_list.color",
    ]
    search = GridSearchCV(LogisticRegression(), {"C": [1.0]}, cv=2).fit(X, y)
    selector = SelectFromModel(LogisticRegression()).fit(X, y)
    regressor = TransformedTargetRegressor(LinearRegression(), transformer=StandardScaler())
    regressor.fit(X, y.astype(float))
    found = {owner for model in (search, selector, regressor) for owner, _ in _estimators(model)}
    assert {"model.best_estimator_", "model.estimator_", "model.transformer_"} <= found
    assert {"model.estimator", "model.regressor", "model.transformer"} <= found  # parameters


def test_predicted_labels_are_named_by_the_files_class_names_from_the_first(tmp_path):
    # model_files.predict_files: label 0 is the first class name, the last label the last
    from pipelines import make

    rng = np.random.default_rng(0)
    dark = rng.integers(0, 60, (20, 8, 8, 3), dtype=np.uint8)
    light = rng.integers(196, 256, (20, 8, 8, 3), dtype=np.uint8)
    model = make("pixels-svm", clf__C=1.0).fit(np.concatenate([dark, light]), [0] * 20 + [1] * 20)
    content = {"model": model, "class_names": ["dark", "light"], "input_shape": None}
    paths = [str(_png(tmp_path / "d.png", (8, 8, 3), seed=1)), str(tmp_path / "l.png")]
    assert cv2.imwrite(paths[1], np.full((8, 8, 3), 250, np.uint8))
    cv2.imwrite(paths[0], np.full((8, 8, 3), 5, np.uint8))
    rows = predict_files(content, paths, n_jobs=1)
    assert [row["class"] for row in rows] == ["dark", "light"]
    unnamed = predict_files({**content, "class_names": None}, paths, n_jobs=1)
    assert [row["class"] for row in unnamed] == ["0", "1"]


def _wcag_luminance(r, g, b):
    # WCAG 2.x relative luminance, written from the definition, one channel at a time
    def linear(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def test_text_colour_is_the_one_of_higher_wcag_contrast_on_every_colour():
    # _charts.text_color against the definition: contrast = (L1 + 0.05) / (L2 + 0.05)
    from pipelines._charts import text_color

    rng = np.random.default_rng(5)
    colours = [(g, g, g) for g in np.arange(256) / 255] + [tuple(c) for c in rng.random((500, 3))]
    # dark red and blue (in the linear part of the sRGB curve, and just above its end,
    # 0.04045, where the two parts nearly agree) with every green near the switch
    colours += [(0.04, g, 0.03) for g in np.linspace(0.4, 0.6, 4001)]
    colours += [(0.075, g, 0.075) for g in np.linspace(0.4, 0.6, 4001)]
    for colour in colours:
        lum = _wcag_luminance(*colour)
        with_black, with_white = (lum + 0.05) / 0.05, 1.05 / (lum + 0.05)
        if abs(with_black - with_white) > 1e-9:
            expected = "black" if with_black > with_white else "white"
            assert text_color((*colour, 1.0)) == expected, colour


def test_the_manifest_gives_each_extractor_its_columns(tmp_path):
    # _assembly._manifest: the blocks tile the feature columns in the union's order
    import json

    for i in range(2):
        _png(tmp_path / "in" / "a" / f"{i}.png", (16, 16, 3), seed=i)
    spec = {
        "hog": {"pixels_per_cell": (8, 8), "cells_per_block": (2, 2)},
        "pixels": {},
        "color": {"bins": 4},
    }
    manifest = extract_folder(tmp_path / "in", tmp_path / "out", features=spec, n_jobs=1)
    blocks = json.loads((tmp_path / "out" / "manifest.json").read_text())["features"]
    assert [b["name"] for b in blocks] == ["hog", "pixels", "color"]
    assert manifest["paths_file"] == "paths.jsonl" and (tmp_path / "out" / "paths.jsonl").exists()
    widths = [36, 16 * 16 * 3, 4**3]  # one 2x2 block of 2x2 cells x 9 bins; pixels; 4 bins^3
    stops = np.cumsum(widths).tolist()
    assert [b["columns"] for b in blocks] == [[a, b] for a, b in zip([0, *stops[:-1]], stops)]
    assert manifest["n_features"] == stops[-1]
    assert np.load(tmp_path / "out" / "features.npy").shape == (2, stops[-1])


def test_every_trusted_type_name_is_a_type_that_exists():
    # model_files: a misspelt or emptied name in the trust lists would trust nothing (or,
    # emptied, an empty name)
    import importlib

    from pipelines.model_files import TRUSTED_DATA, TRUSTED_OWN, TRUSTED_SKLEARN

    for name in (*TRUSTED_OWN, *TRUSTED_SKLEARN, *TRUSTED_DATA):
        module, _, attribute = name.rpartition(".")
        assert module and isinstance(getattr(importlib.import_module(module), attribute), type), (
            name
        )
    # both spellings of NumPy's generator: skops writes the defining module's
    generator = type(np.random.default_rng(0))
    assert f"{generator.__module__}.{generator.__qualname__}" in TRUSTED_DATA
    assert "numpy.random.Generator" in TRUSTED_DATA


@pytest.mark.parametrize(
    ("given", "kind", "bounds"),
    [
        ({"loguniform": [1e-4, 1e-2]}, "loguniform", (1e-4, 1e-2)),
        ({"uniform": [0.5, 2.0]}, "uniform", (0.5, 2.0)),
        ({"randint": [2, 9]}, "randint", (2, 8)),
    ],
)
def test_each_distribution_of_a_randomised_grid_draws_within_its_bounds(given, kind, bounds):
    from pipelines.search import _distribution, _is_distribution

    assert _is_distribution(given) and not _is_distribution({"normal": [0, 1]})
    dist = _distribution(given)
    assert dist.dist.name == kind
    low, high = dist.support()
    assert (low, high) == pytest.approx(bounds)


def test_the_served_hog_picture_is_drawn_at_the_hogs_own_size():
    # serve.models.ServedModel.hog_picture: images of the model's input size (48x48 here)
    # are resized to the HOG's size (32x32) before the glyphs are drawn, as for training
    from features import HOG, hog_image, resize_images
    from pipelines.datasets import decode_bytes

    image = np.random.default_rng(2).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    hog = HOG(size=(32, 32), pixels_per_cell=(8, 8)).fit(image[None])
    model = served_model((48, 48, 3), kind="extractor", model=hog, features=hog)
    png = cv2.imencode(".png", image[..., ::-1])[1].tobytes()
    picture = decode_bytes(model.hog_picture(png, 48 * 48), grey=True)
    glyphs = hog_image(
        resize_images(image[None], (32, 32))[0], orientations=9, pixels_per_cell=(8, 8)
    )
    expected = np.clip(glyphs / np.percentile(glyphs, 99.5) * 255.0, 0, 255).astype(np.uint8)
    assert picture.shape == (32, 32)
    np.testing.assert_array_equal(picture, expected)


def test_an_unknown_pipeline_names_every_available_one():
    from pipelines import available, make

    with pytest.raises(ValueError) as raised:
        make("nope")
    assert str(raised.value) == f"Unknown pipeline 'nope'; available: {', '.join(available())}."
    assert ", hog-svm, " in str(raised.value)


def _ask(app, requests):
    """The answers of ``app`` (in-process, without its start-up) to (method, path, headers)."""
    import asyncio

    import httpx

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(m, p, headers=h) for m, p, h in requests]

    return asyncio.run(run())


def test_the_api_document_is_the_reviewed_one(snapshot):
    # every route's summary, tags, parameters and documented answers: a change to the API
    # that clients generate code from is reviewed (--snapshot-update), never accidental
    from pipelines.serve.app import create_app

    document = create_app({}).openapi()
    assert {"info": document["info"], "paths": document["paths"]} == snapshot


def test_not_ready_before_warm_up_and_unauthorized_requests_are_counted(monkeypatch):
    # serve.app's ready routes before the models are warmed up; serve.metrics counts a 401
    from pipelines.serve.app import create_app
    from pipelines.serve.settings import Settings

    app = create_app({}, Settings(api_key="k"))
    auth = {"Authorization": "Bearer k"}
    ready, v2, refused, metrics, *open_pages = _ask(
        app,
        [
            ("GET", "/health/ready", {}),
            ("GET", "/v2/health/ready", {}),
            ("GET", "/v1/models", {}),
            ("GET", "/metrics", auth),
            # what a browser or a probe asks for without a key
            ("GET", "/", {}),
            ("GET", "/docs", {}),
            ("GET", "/docs/oauth2-redirect", {}),
            ("GET", "/openapi.json", {}),
            ("GET", "/favicon.ico", {}),
            ("GET", "/health/live", {}),
            ("GET", "/v2/health/live", {}),
        ],
    )
    assert [answer.status_code != 401 for answer in open_pages] == [True] * 7
    assert ready.status_code == 503
    assert ready.json() == {"error": "not ready", "detail": "the models are warming up"}
    assert (v2.status_code, v2.json()) == (503, {"ready": False})
    assert refused.status_code == 401
    counted = re.search(
        # refused before routing: counted as "unmatched"
        r'^visionfeatures_requests_total\{endpoint="unmatched",method="GET",status="(\d+)"\} '
        r"1\.0$",
        metrics.text,
        flags=re.M,
    )
    assert counted and counted.group(1) == "401"


def test_a_search_of_one_candidate_has_no_later_candidates_to_compare(tmp_path, capsys):
    # cli.search: the "later ones" lines need a second candidate
    argv = ["search", "--pipeline", "pixels-softmax", "--dataset", "digits", "--cv", "2"]
    argv += ["--grid", '{"clf__C": [0.01]}', "--out", str(tmp_path / "out"), "-q"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no mean of an empty slice
        assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "later ones" not in out and "features step" not in out
    assert re.search(r"^best clf__C=0\.01: accuracy 0\.\d{4} in [\d.]+ s$", out, flags=re.M)


def test_workers_never_outnumber_the_chunks(tmp_path):
    # batch._run_chunks: an explicit n_jobs is capped by the number of chunks (one here)
    for i in range(3):
        _png(tmp_path / "in" / "a" / f"{i}.png", (8, 8, 3), seed=i)
    manifest = extract_folder(
        tmp_path / "in", tmp_path / "out", features={"pixels": {}}, n_jobs=4, chunk_size=256
    )
    assert manifest["run"]["workers"] == 1 and manifest["run"]["backend"] == "loky"
    assert manifest["class_names"] == ["a"] and manifest["n_images"] == 3


def test_every_name_a_module_exports_exists():
    # __all__ of every module of the three packages names what the module defines
    import importlib
    import pkgutil

    import features
    import models
    import pipelines

    checked = 0
    for package in (features, models, pipelines):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for name in getattr(module, "__all__", ()):
                assert name and hasattr(module, name), (info.name, name)
                checked += 1
    assert checked > 40


def test_a_worker_whose_parent_is_gone_ends_at_once(tmp_path):
    # _runtime.end_with_parent, for a worker that is not the parent's child (dask's): the
    # parent's number no longer names a process, so the worker ends with status 1
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its number names no process now
    code = (
        "import time\n"
        "from pipelines._runtime import end_with_parent\n"
        f"end_with_parent({dead.pid})\n"
        "time.sleep(10)\n"
        "print('still running')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert (run.returncode, run.stdout) == (1, "")


def test_the_dask_backend_without_distributed_says_what_to_install(monkeypatch):
    # _runtime.parallel_backend: dask[distributed] is an extra of the package
    import builtins

    from pipelines._runtime import parallel_backend

    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(ImportError) as raised:
        with parallel_backend("dask", 2):
            pass
    assert str(raised.value) == (
        "The dask backend needs dask[distributed]: pip install 'visionfeatures[distributed]'."
    )


def test_a_closed_batcher_ends_its_worker_thread():
    import asyncio

    from pipelines.serve.batching import MicroBatcher

    async def main():
        batcher = MicroBatcher(lambda items: items, max_batch=2, max_wait=0.01)
        batcher.start()
        assert await batcher.submit(["a"]) == ["a"]
        executor = batcher._executor
        await batcher.close()
        return executor

    executor = asyncio.run(main())
    assert executor._shutdown and all(not t.is_alive() for t in executor._threads)


def test_top_k_takes_1_and_refuses_0():
    from pipelines.serve.app import _top_k
    from pipelines.serve.oip import ApiError

    assert [_top_k(None), _top_k("1"), _top_k("12")] == [None, 1, 12]
    for text in ("0", "-1", "x", "1.5"):
        with pytest.raises(ApiError) as raised:
            _top_k(text)
        assert raised.value.detail == f"top_k must be an integer >= 1; got {text!r}"


def test_the_top_level_usage_is_the_whole_line():
    assert cli.build_parser().format_usage() == "usage: visionfeatures [-h] COMMAND\n"


def test_the_librarys_messages_go_to_uvicorns_handler_once():
    from pipelines.cli.serve import log_config

    logger = log_config("info")["loggers"]["pipelines"]
    assert logger == {"handlers": ["default"], "level": "INFO", "propagate": False}


def test_a_chunk_folder_that_cannot_be_removed_does_not_fail_a_finished_run(tmp_path, monkeypatch):
    # batch._run: once the manifest is written the work is done; the chunk folder is only
    # tidied away, and a failure to remove it (a file system that refuses) must not turn a
    # finished run into an error
    for i in range(3):
        _png(tmp_path / "in" / "a" / f"{i}.png", (8, 8, 3), seed=i)
    rmdir = os.rmdir

    def busy(path, *args, **kwargs):
        if os.path.basename(path) == "chunks":
            raise OSError(16, "Device or resource busy", path)
        return rmdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "rmdir", busy)
    manifest = extract_folder(tmp_path / "in", tmp_path / "out", features={"pixels": {}})
    assert manifest["n_images"] == 3 and manifest["failures"] == []
    assert (tmp_path / "out" / "chunks").is_dir()  # left behind, as it could not go
    monkeypatch.setattr(os, "rmdir", rmdir)
    again = extract_folder(tmp_path / "in", tmp_path / "out", features={"pixels": {}})
    assert again["already_complete"] and again["n_images"] == 3


def test_a_partial_is_a_function_to_name_not_a_type(tmp_path):
    # model_files._refused: skops's PartialNode stands for a function (functools.partial of
    # one), refused with the functions unless named, and never taken for a type
    import functools

    from sklearn.preprocessing import FunctionTransformer

    from pipelines.model_files import UntrustedModelError, load_model, save_model

    model = FunctionTransformer(func=functools.partial(np.add, 1)).fit(np.zeros((2, 2)))
    path = tmp_path / "partial.skops"
    save_model(model, path, trusted=["numpy.add", "functools.partial"])
    with pytest.raises(UntrustedModelError) as caught:
        load_model(path, trusted=["numpy.add"])
    assert str(caught.value) == (
        f"Refusing to load {str(path)!r}: it holds functions, which are never trusted unless "
        "named: functools.partial. Load only files you trust; to accept these types, pass "
        "them as trusted."
    )
    loaded = load_model(path, trusted=["numpy.add", "functools.partial"])
    assert loaded["model"].transform(np.zeros((1, 2))).tolist() == [[1.0, 1.0]]


def test_predict_shows_its_progress_unless_quiet(digits_model_file, tmp_path, capsys):
    # cli/predict: the bar counts the images on stderr; -q leaves stderr empty and stdout
    # the same CSV
    paths = [str(_png(tmp_path / f"{i}.png", (8, 8), seed=i)) for i in range(3)]
    assert cli.main(["predict", str(digits_model_file), *paths]) == 0
    loud = capsys.readouterr()
    assert re.search(r"predict: 100%\|.*\| 3/3 ", loud.err), loud.err
    assert cli.main(["predict", str(digits_model_file), *paths, "-q"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == loud.out and len(quiet.out.splitlines()) == 4


def test_the_features_step_line_gives_the_mean_and_the_largest_share(tmp_path, capsys, monkeypatch):
    # cli.search: the cache's summary line, from the features step's time per candidate
    import pipelines.search

    steps = np.array([2.0, 0.1, 0.3])
    monkeypatch.setattr(pipelines.search, "features_seconds", lambda *args: steps)
    seconds = np.array([2.0, 1.1, 1.3])  # and each candidate's whole time (over 50 %, so
    # that a share 1 % off rounds to another whole percent)
    monkeypatch.setattr(pipelines.search, "candidate_seconds", lambda *args: seconds)
    argv = ["search", "--pipeline", "pixels-softmax", "--dataset", "digits", "--cv", "2", "-q"]
    argv += ["--grid", '{"clf__C": [0.0001, 0.001, 0.01]}', "--out", str(tmp_path / "o")]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert [x for x in out if x.startswith("first candidate")] == [
        "first candidate 2.000 s; later ones 1.200 s on average (60% of the first, at most 65%)"
    ]
    assert [x for x in out if x.startswith("features step")] == [
        "features step: first candidate 2.000 s; later ones 0.2000 s on average "
        "(15.0% of the first at most)"
    ]
    assert [x[:10] for x in out[:3]] == ["   2.000 s", "   1.100 s", "   1.300 s"]


def test_a_logged_exception_keeps_its_traceback_under_the_message():
    # cli._common._Formatter: "error: message", then the traceback on the lines below it
    import logging
    import sys

    from pipelines.cli._common import _Formatter

    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "pipelines.x", logging.ERROR, __file__, 1, "failed %s", ("now",), sys.exc_info()
        )
    for formatter, head in ((_Formatter(), ""), (_Formatter(with_names=True), "pipelines.x: ")):
        lines = formatter.format(record).splitlines()
        assert lines[:2] == [f"{head}error: failed now", "Traceback (most recent call last):"]
        assert lines[-1] == "ValueError: boom"


def test_compare_says_what_it_loaded_and_wrote_unless_quiet(tmp_path, capsys):
    # cli.compare: two messages on stderr, the data set's size with its loading time and the
    # report's files; -q keeps only the table on stdout
    argv = ["compare", "--dataset", "digits", "--test-size", "0.5", "--pipelines", "pixels-softmax"]
    assert cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.splitlines()
    written = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert re.fullmatch(r"digits: 898 train / 899 test images \(loaded in \d+\.\d s\)", err[0])
    assert err[-1] == f"wrote {len(written)} files to {tmp_path / 'a'}/" and len(written) >= 3
    assert cli.main([*argv, "--out", str(tmp_path / "b"), "-q"]) == 0
    assert capsys.readouterr().err == ""
