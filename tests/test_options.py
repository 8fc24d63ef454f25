"""Every option of every command is exercised by a test that asserts its effect.

:data:`COVERED` names, for each command and each of its options, the test that exercises it;
``test_every_option_of_every_command_has_a_test`` fails when a command gains an option that
the table does not name, or when the named test no longer passes the option. The tests below
cover the options no other module exercised: they check what changes (the split, the rows,
the model's input, the picture's parameters), not that a file appeared.
"""

import csv
import importlib
import inspect
import json
import re
import threading
import time

import cv2
import numpy as np
import pytest
from skimage import data as skdata
from sklearn.linear_model import LogisticRegression

import features
from pipelines import cli, model_files
from pipelines._runtime import locked_folder
from pipelines.cli import _common
from pipelines.datasets import decode_image, load_split

# option -> "module:test" (a test function, or a helper whose source passes the option).
_EVERY_COMMAND = {
    "--help": "tests.test_cli:test_help_of_every_command_imports_no_heavy_library",
    "--verbose": "tests.test_options:test_verbose_and_quiet_of_every_command",
    "--quiet": "tests.test_options:test_verbose_and_quiet_of_every_command",
}
COVERED = {
    "compare": {
        "--dataset": "tests.test_options:test_compare_dataset_and_test_size",
        "--data": "tests.test_options:test_compare_split_options",
        "--pipelines": "tests.test_pipelines:test_compare_script_writes_its_files",
        "--out": "tests.test_pipelines:test_compare_script_writes_its_files",
        "--test-size": "tests.test_options:test_compare_dataset_and_test_size",
        "--random-state": "tests.test_options:test_compare_split_options",
        "--size": "tests.test_options:test_compare_split_options",
        "--n-jobs": "tests.test_options:test_compare_split_options",
        "--max-pixels": "tests.test_options:test_compare_split_options",
    },
    "extract": {
        "input": "tests.test_batch:test_complete_run_is_not_repeated",
        "--out": "tests.test_batch:test_complete_run_is_not_repeated",
        "--features": "tests.test_batch:test_script_config_param_size_overwrite_and_fit_sample",
        "--param": "tests.test_batch:test_script_config_param_size_overwrite_and_fit_sample",
        "--config": "tests.test_batch:test_script_config_param_size_overwrite_and_fit_sample",
        "--size": "tests.test_batch:test_script_config_param_size_overwrite_and_fit_sample",
        "--fit-sample": "tests.test_batch:test_script_config_param_size_overwrite_and_fit_sample",
        "--chunk-size": "tests.test_batch:test_script_config_param_size_overwrite_and_fit_sample",
        "--overwrite": "tests.test_batch:test_script_config_param_size_overwrite_and_fit_sample",
        "--n-jobs": "tests.test_options:test_folder_job_run_options",
        "--backend": "tests.test_options:test_folder_job_run_options",
        "--scheduler": "tests.test_options:test_folder_job_run_options",
        "--max-pixels": "tests.test_boundary_commands:test_max_pixels_option",
        "--wait": "tests.test_options:test_wait_for_a_locked_folder",
    },
    "features": {
        "extractor": "tests.test_options:test_folder_job_run_options",
        "input": "tests.test_options:test_folder_job_run_options",
        "--out": "tests.test_options:test_folder_job_run_options",
        "--chunk-size": "tests.test_options:test_folder_job_run_options",
        "--n-jobs": "tests.test_options:test_folder_job_run_options",
        "--backend": "tests.test_options:test_folder_job_run_options",
        "--scheduler": "tests.test_options:test_folder_job_run_options",
        "--max-pixels": "tests.test_options:test_folder_job_run_options",
        "--overwrite": "tests.test_options:test_folder_job_run_options",
        "--wait": "tests.test_options:test_wait_for_a_locked_folder",
    },
    "train": {
        "--pipeline": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
        "--dataset": "tests.test_model_files:test_train_then_predict_gives_the_pipelines_"
        "predictions",
        "--data": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
        "--size": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
        "--out": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
        "--format": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
        "--max-pixels": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
    },
    "predict": {
        "model": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
        "images": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
        "--trust": "tests.test_options:test_predict_trust",
        "--allow-pickle": "tests.test_options:test_train_size_format_and_predict_allow_pickle",
        "--max-pixels": "tests.test_options:test_predict_trust",
    },
    "search": {
        "--pipeline": "tests.test_options:test_search_options",
        "--dataset": "tests.test_options:test_search_backend_options",
        "--data": "tests.test_options:test_search_options",
        "--size": "tests.test_options:test_search_options",
        "--grid": "tests.test_options:test_search_options",
        "--cv": "tests.test_options:test_search_options",
        "--n-iter": "tests.test_options:test_search_options",
        "--scoring": "tests.test_options:test_search_options",
        "--n-jobs": "tests.test_options:test_search_backend_options",
        "--backend": "tests.test_options:test_search_backend_options",
        "--scheduler": "tests.test_options:test_search_backend_options",
        "--no-cache": "tests.test_options:test_search_options",
        "--cache-dir": "tests.test_options:test_search_options",
        "--random-state": "tests.test_options:test_search_options",
        "--out": "tests.test_options:test_search_options",
        "--max-pixels": "tests.test_options:test_search_backend_options",
    },
    "serve": {
        "models": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--host": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--port": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--workers": "tests.test_serve_lifecycle:test_workers_share_the_port_and_the_metrics",
        "--max-batch": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--max-wait-ms": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--max-body": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--max-images": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--max-pixels": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--api-key-file": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
        "--trust": "tests.test_serve_lifecycle:test_bad_model_files_stop_the_start_with_one_line",
        "--no-access-log": "tests.test_options:test_serve_options_reach_the_app_and_uvicorn",
    },
    "show-hog": {
        "image": "tests.test_options:test_show_hog_options",
        "--out": "tests.test_options:test_show_hog_options",
        "--orientations": "tests.test_options:test_show_hog_options",
        "--pixels-per-cell": "tests.test_options:test_show_hog_options",
        "--transform-sqrt": "tests.test_options:test_show_hog_options",
        "--grey": "tests.test_options:test_show_hog_options",
        "--max-pixels": "tests.test_options:test_show_hog_options",
    },
    "lecture": {
        "figure": "tests.test_options:test_lecture_dpi_and_fast",
        "--out": "tests.test_options:test_lecture_dpi_and_fast",
        "--dpi": "tests.test_options:test_lecture_dpi_and_fast",
        "--fast": "tests.test_options:test_lecture_dpi_and_fast",
    },
}


def _options(parser):
    """{name: action} of a parser: the long option string, or the positional's dest."""
    return {
        (action.option_strings[-1] if action.option_strings else action.dest): action
        for action in parser._actions
    }


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_option_of_every_command_has_a_test(command):
    parser = cli.COMMANDS[command].build_parser(f"visionfeatures {command}")
    table = {**_EVERY_COMMAND, **COVERED[command]}
    assert set(_options(parser)) == set(table), "options without a test, or tests of none"
    for option, where in table.items():
        module, name = where.split(":")
        source = inspect.getsource(getattr(importlib.import_module(module), name))
        # an option is passed by its string; a positional by being in the argv at all
        passed = option if option.startswith("-") else "main("
        assert passed in source, f"{where} does not pass {option} of {command}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """3 classes x 12 small colour PNGs, told apart by their brightness."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label, name in enumerate(["dark", "mid", "light"]):
        (root / name).mkdir()
        for i in range(12):
            image = rng.integers(0, 60, size=(16, 16, 3)) + 90 * label
            cv2.imwrite(str(root / name / f"{i:02d}.png"), image.astype(np.uint8))
    return root


class _Spy:
    """Wrap ``module.name``: record each call's arguments, return what the real one returns."""

    def __init__(self, monkeypatch, module, name):
        self.calls, self.real = [], getattr(module, name)
        monkeypatch.setattr(module, name, self)

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.real(*args, **kwargs)


# -- -v / -q -------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [c for c in cli.COMMANDS if c != "serve"])
def test_verbose_and_quiet_of_every_command(command, monkeypatch):
    """Each command sets up the library's logging from its -v / -q before any work (serve
    gives them to uvicorn: tests/test_serve_lifecycle.py)."""
    seen = []

    def stop(args):
        seen.append((args.verbose, args.quiet))
        raise KeyboardInterrupt  # stop right there, before any work

    module = cli.COMMANDS[command]
    monkeypatch.setattr(module, "setup_logging", stop)
    needed = {
        "compare": [],
        "extract": ["in", "--out", "o"],
        "features": ["e", "in", "--out", "o"],
        "train": ["--pipeline", "pixels-svm", "--out", "m"],
        "predict": ["m", "i.png"],
        "search": ["--pipeline", "pixels-svm", "--grid", "{}", "--out", "o"],
        "show-hog": ["i.png", "--out", "o.png"],
        "lecture": ["hog", "--out", "o"],
    }[command]
    for flag in ("--verbose", "--quiet"):
        try:
            assert module.main([*needed, flag]) == _common.INTERRUPTED
        except KeyboardInterrupt:
            assert command == "lecture"  # draws in seconds: no Ctrl-C handling
    assert seen == [(1, False), (0, True)]
    monkeypatch.undo()
    for flag, level in (("--verbose", "DEBUG"), ("--quiet", "WARNING")):
        progress = _common.setup_logging(module.build_parser("x").parse_args([*needed, flag]))
        assert _common.logging.getLevelName(_common.logging.getLogger("pipelines").level) == level
        assert progress is (flag == "--verbose")


# -- compare ---------------------------------------------------------------------------------
def test_compare_dataset_and_test_size(tmp_path, capsys):
    argv = ["compare", "--dataset", "digits", "--test-size", "0.5", "--pipelines", "pixels-softmax"]
    assert cli.main([*argv, "--out", str(tmp_path), "-q"]) == 0
    assert capsys.readouterr().out.startswith("# digits: 898 train / 899 test images\n")


def test_compare_split_options(folder, tmp_path, capsys, monkeypatch):
    from pipelines import compare as compare_module
    from pipelines import datasets

    spy = _Spy(monkeypatch, compare_module, "compare")
    loads = _Spy(monkeypatch, datasets, "load_split")
    argv = ["compare", "--data", str(folder), "--pipelines", "pixels-softmax", "--size", "4,6"]
    argv += ["--test-size", "0.25", "--random-state", "3", "--n-jobs", "1", "-q"]
    assert cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    (_, train, test), _ = spy.calls[0]
    expected = load_split(folder, test_size=0.25, random_state=3, size=(4, 6))[1]
    assert test.paths == expected.paths != load_split(folder, test_size=0.25)[1].paths
    assert train.images.shape == (27, 4, 6, 3) and len(test) == 9
    with open(tmp_path / "a" / "results.csv") as f:
        assert next(csv.DictReader(f))["n_features"] == str(4 * 6 * 3)
    assert loads.calls[0][1]["n_jobs"] == 1
    assert capsys.readouterr().out.startswith(f"# {folder.name}: 27 train / 9 test images")
    # 16 x 16 images over --max-pixels 255: none can be read
    with pytest.warns(UserWarning, match="over the limit of 255 pixels"):
        assert cli.main([*argv, "--max-pixels", "255", "--out", str(tmp_path / "b")]) == 1
    assert "could be decoded (36 files failed)" in capsys.readouterr().err


# -- train and predict -------------------------------------------------------------------------
def test_train_size_format_and_predict_allow_pickle(folder, tmp_path, capsys):
    model = tmp_path / "model.pkl"
    argv = ["train", "--pipeline", "pixels-softmax", "--data", str(folder), "--size", "4,4"]
    assert cli.main([*argv, "--format", "pickle", "--out", str(model), "-q"]) == 0
    assert re.match(r"fitted pixels-softmax on 36 images \(3 classes\)", capsys.readouterr().out)
    content = model_files.load_model(model, allow_pickle=True)
    assert tuple(content["input_shape"]) == (4, 4, 3)
    assert content["model"].named_steps["scale"].n_features_in_ == 48
    images = sorted(str(p) for p in folder.rglob("*.png"))[::6]
    assert cli.main(["predict", str(model), *images, "-q"]) == 1  # a pickle needs the option
    assert "--allow-pickle" in capsys.readouterr().err
    assert cli.main(["predict", str(model), *images, "--allow-pickle", "-q"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [row["path"] for row in rows] == images
    decoded = np.stack([decode_image(p, size=(4, 4)) for p in images])
    offline = content["model"].predict(decoded)
    assert [row["class"] for row in rows] == [content["class_names"][i] for i in offline]
    # the training images are 16 x 16: over --max-pixels 200, none is read
    assert cli.main([*argv, "--max-pixels", "200", "--out", str(tmp_path / "m.skops")]) == 1
    assert "could be decoded (36 files failed)" in capsys.readouterr().err


class TrustedByName(LogisticRegression):
    """A classifier of a module that model files do not trust unless told to."""


def test_predict_trust(folder, tmp_path, capsys):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_split(folder, test_size=0.25, size=(4, 4))[0]
    steps = [("features", features.RawPixels()), ("scale", StandardScaler())]
    pipeline = Pipeline([*steps, ("clf", TrustedByName())]).fit(data.images, data.labels)
    name = f"{__name__}.TrustedByName"
    path = model_files.save_model(
        pipeline,
        tmp_path / "m.skops",
        class_names=data.class_names,
        input_shape=(4, 4, 3),
        trusted=[name],
    )
    image = str(folder / "light" / "00.png")
    assert cli.main(["predict", str(path), image, "-q"]) == 1
    assert f"types that are not trusted: {name}" in capsys.readouterr().err
    assert cli.main(["predict", str(path), image, "--trust", name, "-q"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(f"{image},light,")
    # --max-pixels: the 16 x 16 file is over 200 pixels, a row with its error
    assert cli.main(["predict", str(path), image, "--trust", name, "--max-pixels", "200"]) == 1
    row = capsys.readouterr().out.splitlines()[1]
    assert row == f"{image},,,image of 16x16 pixels is over the limit of 200 pixels (max_pixels)"


# -- search ---------------------------------------------------------------------------------
def test_search_options(folder, tmp_path, capsys):
    grid = '{"clf__C": [0.001, 0.01, 0.1, 1.0]}'
    argv = ["search", "--pipeline", "pixels-softmax", "--data", str(folder), "--size", "4,4"]
    argv += ["--grid", grid, "--cv", "3", "--n-iter", "2", "--scoring", "balanced_accuracy"]
    argv += ["--random-state", "1", "-q"]
    cache = tmp_path / "cache"
    assert cli.main([*argv, "--cache-dir", str(cache), "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^ +[\d.]+ s  balanced_accuracy [\d.]+  clf__C=", out, re.M)) == 2
    assert "features step: first candidate" in out  # the cache served the later candidates
    assert any(cache.rglob("*")), "the feature cache is kept in --cache-dir"
    with open(tmp_path / "a" / "cv_results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(float(r["split2_test_score"]) >= 0 for r in rows)
    best = model_files.load_model(tmp_path / "a" / "best_model.skops")
    assert tuple(best["input_shape"]) == (4, 4, 3)

    assert cli.main([*argv, "--no-cache", "--out", str(tmp_path / "b")]) == 0
    uncached = capsys.readouterr().out
    assert "features step" not in uncached  # no cache: no cache timings
    with open(tmp_path / "b" / "cv_results.csv") as f:
        assert [r["param_clf__C"] for r in csv.DictReader(f)] == [r["param_clf__C"] for r in rows]


def test_search_backend_options(folder, tmp_path, capsys, monkeypatch):
    from pipelines import search as search_module

    def stop(*args, **kwargs):
        stop.kwargs = kwargs
        raise ValueError("stopped here")

    monkeypatch.setattr(search_module, "search", stop)
    argv = ["search", "--pipeline", "pixels-softmax", "--dataset", "digits"]
    argv += ["--grid", '{"clf__C": [1]}', "--out", str(tmp_path), "--n-jobs", "2", "-q"]
    argv += ["--backend", "dask", "--scheduler", "tcp://127.0.0.1:1"]
    assert cli.main(argv) == 1
    assert capsys.readouterr().err.endswith("stopped here\n")
    assert stop.kwargs["random_state"] == 0
    assert {k: stop.kwargs[k] for k in ("n_jobs", "backend", "scheduler")} == {
        "n_jobs": 2,
        "backend": "dask",
        "scheduler": "tcp://127.0.0.1:1",
    }
    argv[3:5] = ["--data", str(folder)]
    assert cli.main([*argv, "--max-pixels", "200"]) == 1  # the 16 x 16 images: none is read
    assert "could be decoded (36 files failed)" in capsys.readouterr().err


# -- extract and features: the run options ------------------------------------------------------
def test_folder_job_run_options(folder, tmp_path, capsys, monkeypatch):
    out = tmp_path / "extracted"
    argv = ["extract", str(folder), "--out", str(out), "--n-jobs", "2", "--backend", "threading"]
    assert cli.main([*argv, "--chunk-size", "5", "-q"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run"]["workers"] == 2 and manifest["run"]["backend"] == "threading"
    assert manifest["parameters"]["chunk_size"] == 5

    applied = tmp_path / "applied"
    argv = ["features", str(out / "extractor.skops"), str(folder), "--out", str(applied)]
    argv += ["--n-jobs", "2", "--backend", "threading", "--max-pixels", "300", "-q"]
    assert cli.main([*argv, "--chunk-size", "7"]) == 0
    again = json.loads((applied / "manifest.json").read_text())
    assert again["parameters"]["chunk_size"] == 7 and again["parameters"]["max_pixels"] == 300
    assert again["run"]["workers"] == 2 and again["run"]["backend"] == "threading"
    features_of = (applied / "features.npy").read_bytes()
    assert features_of == (out / "features.npy").read_bytes()
    # other arguments in the same DIR: refused, then replaced with --overwrite
    assert cli.main([*argv, "--chunk-size", "4"]) == 1
    assert "use --overwrite to replace them" in capsys.readouterr().err
    assert cli.main([*argv, "--chunk-size", "4", "--overwrite"]) == 0
    assert json.loads((applied / "manifest.json").read_text())["parameters"]["chunk_size"] == 4
    # --max-pixels under the images' 256 pixels: every file is a failure
    none = ["features", *argv[1:3], "--out", str(tmp_path / "none"), "--max-pixels", "255"]
    assert cli.main([*none, "-q"]) == 1
    # the extractor's own 16 x 16 input is over the limit: refused from the file
    assert "size 16x16 is 256 pixels, over the limit of 255" in capsys.readouterr().err

    # --scheduler goes to the dask backend (stopped before it connects)
    from pipelines import batch

    def no_cluster(*args, **kwargs):
        no_cluster.kwargs = kwargs
        raise ValueError("no cluster here")

    monkeypatch.setattr(batch, "parallel_backend", no_cluster)
    for command in (["extract", str(folder)], argv[:3]):
        where = ["--out", str(tmp_path / "dask" / command[0]), "--backend", "dask", "-q"]
        assert cli.main([*command, *where, "--scheduler", "tcp://10.0.0.5:8786"]) == 1
        assert no_cluster.kwargs == {"scheduler": "tcp://10.0.0.5:8786"}
        assert capsys.readouterr().err.endswith("no cluster here\n")


def test_wait_for_a_locked_folder(folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    argv = ["extract", str(folder), "--out", str(out), "--n-jobs", "1", "-q"]
    held, release = threading.Event(), threading.Event()

    def hold():
        with locked_folder(out):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(60)
        assert cli.main(argv) == 1
        assert "is being written by another job" in capsys.readouterr().err
        threading.Timer(0.5, release.set).start()
        start = time.perf_counter()
        assert cli.main([*argv, "--wait"]) == 0  # waits for the lock, then runs
        assert time.perf_counter() - start >= 0.4
    finally:
        release.set()
        holder.join()
    assert json.loads((out / "manifest.json").read_text())["n_images"] == 36
    extractor = out / "extractor.skops"
    argv = ["features", str(extractor), str(folder), "--out", str(tmp_path / "f"), "-q"]
    (tmp_path / "f").mkdir()
    with locked_folder(tmp_path / "f"):
        assert cli.main(argv) == 1
    assert cli.main([*argv, "--wait"]) == 0


# -- serve ----------------------------------------------------------------------------------
def test_serve_options_reach_the_app_and_uvicorn(folder, tmp_path, monkeypatch):
    import uvicorn

    from pipelines.serve import app as app_module

    model = tmp_path / "m.skops"
    assert cli.main(["train", "--pipeline", "pixels-softmax", "--data", str(folder), "-q",
                     "--out", str(model)]) == 0  # fmt: skip
    (tmp_path / "key").write_text("k3y\n")
    made = {}

    class Server:
        started = True

        def __init__(self, config):
            made["config"] = config

        def run(self):
            made["ran"] = True

    monkeypatch.setattr(uvicorn, "Server", Server)
    monkeypatch.setattr(app_module, "create_app", lambda models, settings: (models, settings))
    argv = ["serve", f"shapes={model}", "--host", "0.0.0.0", "--port", "8123"]
    argv += ["--max-batch", "7", "--max-wait-ms", "12.5", "--max-body", "2MiB"]
    argv += ["--max-images", "9", "--max-pixels", "64x64", "--no-access-log"]
    assert cli.main([*argv, "--api-key-file", str(tmp_path / "key")]) == 0
    config = made["config"]
    models, settings = config.app
    assert list(models) == ["shapes"] and made["ran"]
    assert (config.host, config.port, config.access_log) == ("0.0.0.0", 8123, False)
    assert (settings.max_batch, settings.max_wait_ms, settings.max_body) == (7, 12.5, 2 << 20)
    assert (settings.max_images, settings.max_pixels, settings.api_key) == (9, 4096, "k3y")


# -- show-hog and lecture ------------------------------------------------------------------------
def test_show_hog_options(tmp_path, capsys, monkeypatch):
    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), cv2.cvtColor(skdata.astronaut()[::4, ::4], cv2.COLOR_RGB2BGR))
    spy = _Spy(monkeypatch, features, "hog_image")
    out = tmp_path / "deep" / "hog.png"
    argv = ["show-hog", str(image), "--out", str(out), "-q"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    (picture,), options = spy.calls[-1]
    assert picture.shape == (128, 128, 3)
    assert options == {"orientations": 9, "pixels_per_cell": (8, 8), "transform_sqrt": False}
    default = cv2.imread(str(out))
    assert default.shape[1] == 2 * default.shape[0]  # image and HOG side by side, square each

    more = ["--orientations", "12", "--pixels-per-cell", "16", "8", "--transform-sqrt", "--grey"]
    assert cli.main([*argv, *more]) == 0
    (picture,), options = spy.calls[-1]
    assert picture.shape == (128, 128)
    assert options == {"orientations": 12, "pixels_per_cell": (16, 8), "transform_sqrt": True}
    assert not np.array_equal(cv2.imread(str(out)), default)

    assert cli.main([*argv, "--max-pixels", "100x100"]) == 2
    assert "over the limit of 10000 pixels" in capsys.readouterr().err


def test_lecture_dpi_and_fast(tmp_path, capsys, monkeypatch):
    from pipelines import lecture

    spy = _Spy(monkeypatch, lecture, "draw")
    sizes = {}
    for dpi in ("40", "80"):
        argv = ["lecture", "schedules", "--out", str(tmp_path / dpi), "--dpi", dpi, "--fast"]
        assert cli.main(argv) == 0
        assert capsys.readouterr().out.startswith(f"wrote {tmp_path / dpi / 'schedules.png'}")
        sizes[dpi] = cv2.imread(str(tmp_path / dpi / "schedules.png")).shape[:2]
    assert spy.calls[0] == (("schedules",), {"fast": True})
    assert all(abs(2 * a - b) <= 2 for a, b in zip(sizes["40"], sizes["80"], strict=True))
