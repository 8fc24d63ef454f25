"""The console command: instant --help, -v / -q, progress on stderr, plain numbers, --out
folders, and figures that leave matplotlib's backend alone.

Timing is not tested here: ``scripts/bench_cli.py`` measures --help in a fresh environment.
"""

import ast
import json
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from models import NeuralNetClassifier
from pipelines import cli, model_files
from pipelines.compare import accuracy_figure, speed_figure
from pipelines.search import SearchResult, _GridSearch, format_params, heatmap_figure

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "numba", "cv2", "numpy", "scipy", "matplotlib", "skimage", "joblib", "tqdm")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A labelled folder of 3 classes x 12 small grey PNGs, told apart by their brightness."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label, name in enumerate(["dark", "mid", "light"]):
        (root / name).mkdir()
        for i in range(12):
            image = rng.integers(0, 60, size=(16, 16)) + 90 * label
            cv2.imwrite(str(root / name / f"{i}.png"), image.astype(np.uint8))
    return root


# -- help: no heavy import -----------------------------------------------------------------
def test_help_of_every_command_imports_no_heavy_library():
    """--help of the command and of each subcommand, in a fresh interpreter, imports none of
    the heavy libraries (what makes it instant)."""
    code = textwrap.dedent(
        """
        import contextlib, io, json, sys
        from pipelines.cli import COMMANDS, main
        heavy = {heavy!r}
        found = {{}}
        for argv in [["--help"]] + [[name, "--help"] for name in COMMANDS]:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    main(argv)
                except SystemExit as stop:
                    code = stop.code
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
            found[" ".join(argv)] = [code, "usage:" in out.getvalue(), loaded]
        print(json.dumps(found))
        """
    ).format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout)
    assert set(found) == {"--help"} | {f"{name} --help" for name in cli.COMMANDS}
    for argv, (code, has_usage, loaded) in found.items():
        assert code == 0 and has_usage, argv
        assert loaded == [], f"visionfeatures {argv} imported {loaded}"


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert re.search(rf"^  {re.escape(name)} +\S", text, re.MULTILINE), name


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_takes_verbose_and_quiet(name):
    parser = cli.COMMANDS[name].build_parser(f"visionfeatures {name}")
    options = {option for action in parser._actions for option in action.option_strings}
    assert {"-v", "--verbose", "-q", "--quiet"} <= options


# -- logging -------------------------------------------------------------------------------
def _library_sources():
    for package in ("features", "models", "pipelines"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "cli" not in path.relative_to(ROOT).parts:
                yield path, ast.parse(path.read_text(), str(path))


def test_the_library_logs_through_named_loggers_and_never_prints():
    prints, loggers = [], []
    for path, tree in _library_sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else None
            attribute = node.func.attr if isinstance(node.func, ast.Attribute) else None
            if name == "print":
                prints.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if attribute == "getLogger" or name == "getLogger":
                argument = node.args[0] if node.args else None
                if not (isinstance(argument, ast.Name) and argument.id == "__name__"):
                    loggers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert prints == [], "print in the library (log instead): " + ", ".join(prints)
    assert loggers == [], "loggers not named by __name__: " + ", ".join(loggers)


def test_messages_go_to_stderr_and_quiet_silences_progress(folder, tmp_path, capsys):
    argv = ["--data", str(folder), "--pipelines", "pixels-softmax", "--test-size", "0.25"]
    assert cli.main(["compare", *argv, "--out", str(tmp_path / "a")]) == 0
    loud = capsys.readouterr()
    assert "| pixels-softmax |" in loud.out  # the table: stdout
    assert "compare: 100%" in loud.err  # the progress bar: stderr
    # tqdm.write clears the bar's line (with "\r") before each message
    assert re.search(r"\[1/1\] pixels-softmax: accuracy [\d.]+, fit", loud.err)
    assert "[1/1]" not in loud.out

    assert cli.main(["compare", *argv, "--out", str(tmp_path / "b"), "-q"]) == 0
    quiet = capsys.readouterr()
    assert "| pixels-softmax |" in quiet.out
    assert quiet.err == ""

    assert cli.main(["compare", *argv, "--out", str(tmp_path / "c"), "-v"]) == 0
    verbose = capsys.readouterr()
    assert "pipelines.compare: debug: [1/1] pixels-softmax: fitting on" in verbose.err
    # the third command in this process: its handler replaced the others, not added to them
    assert len(re.findall(r"\[1/1\] pixels-softmax: accuracy", verbose.err)) == 1


def test_the_lbfgs_network_shows_its_iterations_on_stderr_only(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 5 iterations: on purpose
        NeuralNetClassifier((), optimizer="lbfgs", max_epochs=5, verbose=True).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "iteration" in captured.err and "loss=" in captured.err


# -- search: progress per candidate, plain numbers --------------------------------------------
def test_batched_search_equals_scikit_learns_and_reports_each_candidate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=90) > 0).astype(int)
    grid = {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    reference = GridSearchCV(LogisticRegression(), grid, cv=folds).fit(X, y)
    seen = []
    search = _GridSearch(LogisticRegression(), grid, cv=folds)
    search._batch_size = 2
    search._on_batch = lambda results, total: seen.append(
        (None if results is None else len(results["params"]), total)
    )
    search.fit(X, y)
    assert seen == [(None, 5), (2, 5), (4, 5), (5, 5)]
    for key in ("mean_test_score", "rank_test_score", "split2_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], reference.cv_results_[key])
    assert search.best_params_ == reference.best_params_


def test_search_prints_plain_numbers_and_a_bar_with_the_best_score(folder, tmp_path, capsys):
    grid = '{"clf__C": {"loguniform": [0.01, 1]}}'  # sampled: NumPy floats
    argv = ["search", "--pipeline", "pixels-softmax", "--data", str(folder), "--grid", grid]
    assert cli.main([*argv, "--n-iter", "3", "--cv", "2", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "np." not in captured.out + captured.err
    assert re.search(r"^best clf__C=0\.\d+: accuracy [\d.]+ in", captured.out, re.MULTILINE)
    assert re.search(r"search pixels-softmax: 100%.*3/3.*best accuracy [\d.]+", captured.err)
    assert re.search(r"candidate 3/3: accuracy [\d.]+ \(clf__C=0\.\d+\)", captured.err)


def test_format_params_shows_plain_numbers():
    params = {"clf__C": np.float64(0.25), "n": np.int64(3), "size": (np.int32(8), 8)}
    assert format_params(params) == "clf__C=0.25, n=3, size=(8, 8)"


# -- every command creates its --out -------------------------------------------------------
def _show_hog_image(tmp_path):
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8))
    return ["show-hog", str(path)]


@pytest.mark.parametrize(
    ("command", "target"),
    [
        ("compare", "new/deeper/results.csv"),
        ("search", "new/deeper/best_params.json"),
        ("extract", "new/deeper/features.npy"),
        ("train", "new/deeper/model.skops"),
        ("show-hog", "new/deeper/hog.png"),
    ],
)
def test_every_command_creates_its_out_folder(command, target, folder, tmp_path):
    out = tmp_path / "new" / "deeper"
    argv = {
        "compare": ["compare", "--data", str(folder), "--pipelines", "pixels-softmax"],
        "search": [
            *("search", "--pipeline", "pixels-softmax", "--data", str(folder), "--cv", "2"),
            *("--grid", '{"clf__C": [0.1]}'),
        ],
        "extract": ["extract", str(folder), "--n-jobs", "1"],
        "train": ["train", "--pipeline", "pixels-softmax", "--data", str(folder)],
        "show-hog": _show_hog_image(tmp_path),
    }[command]
    destination = out if command in ("compare", "search", "extract") else tmp_path / target
    assert cli.main([*argv, "--out", str(destination), "-q"]) == 0
    assert (tmp_path / target).stat().st_size > 0


def test_predict_shows_a_progress_bar_over_the_images(folder, tmp_path, capsys, monkeypatch):
    model = tmp_path / "model.skops"
    argv = ["--pipeline", "pixels-softmax", "--data", str(folder), "--out", str(model)]
    assert cli.main(["train", *argv]) == 0
    assert re.search(r"train pixels-softmax: 100%.*3/3", capsys.readouterr().err)
    images = sorted(str(p) for p in folder.rglob("*.png"))
    assert cli.main(["predict", str(model), *images, "-q"]) == 0
    whole = capsys.readouterr()
    assert whole.out.count("\n") == len(images) + 1 and whole.err == ""
    monkeypatch.setattr(cli.predict, "_CHUNK", 10)  # the bar moves per chunk of files
    chunks = []
    predict_files = model_files.predict_files

    def counted(content, paths, **options):
        chunks.append(paths)
        return predict_files(content, paths, **options)

    monkeypatch.setattr(model_files, "predict_files", counted)
    assert cli.main(["predict", str(model), *images]) == 0
    chunked = capsys.readouterr()
    assert chunked.out == whole.out  # the same lines, in the same order
    assert [len(paths) for paths in chunks] == [10, 10, 10, 6]
    assert re.search(rf"predict: 100%.*{len(images)}/{len(images)}", chunked.err)


# -- figures: the object API, the backend untouched ------------------------------------------
def test_the_library_never_uses_pyplot_or_sets_the_backend():
    found = []
    for path, tree in _library_sources():
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Attribute) and node.attr == "use":
                if isinstance(node.value, ast.Name) and node.value.id == "matplotlib":
                    names = ["matplotlib.use"]
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if "pyplot" in n]
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "matplotlib.use"]
    assert found == []


def test_reports_leave_the_users_backend_alone(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        import matplotlib
        matplotlib.use("svg")  # the user's choice, not the one the reports draw with
        import numpy as np
        from pipelines.compare import write_report
        from pipelines.search import SearchResult, write_search_report
        row = dict(pipeline="a", accuracy=0.9, macro_f1=0.9, fit_seconds=1.0,
                   predict_images_per_s=100.0, n_features=4, note="",
                   confusion=np.array([[9, 1], [1, 9]]))
        files = write_report([row], {str(tmp_path)!r}, ["x", "y"], title="t")
        grid = {{"clf__C": [1, 2], "clf__tol": [0.1, 0.2]}}
        params = [{{"clf__C": c, "clf__tol": t}} for c in (1, 2) for t in (0.1, 0.2)]
        result = SearchResult({{"params": params, "mean_test_score": np.arange(4.0)}}, {{}},
                              3.0, None, grid, 1.0, pipeline="p")
        files += write_search_report(result, {str(tmp_path)!r})
        print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules,
              sorted(p.name for p in files if p.suffix == ".png"))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    backend, pyplot, pictures = done.stdout.split(" ", 2)
    assert (backend, pyplot) == ("svg", "False")
    assert pictures.strip() == "['accuracy.png', 'confusion-a.png', 'heatmap.png', 'speed.png']"


def _rows(accuracies):
    return [
        dict(
            pipeline=f"p{i}",
            accuracy=a,
            fit_seconds=10.0**i,
            predict_images_per_s=1000.0 * 3**i,
            n_features=1,
            note="",
        )
        for i, a in enumerate(accuracies)
    ]


def test_accuracy_chart_zooms_on_the_differences_and_marks_chance():
    ax = accuracy_figure(_rows([0.91, 0.95, 0.98]), chance=0.1, n_test=500).axes[0]
    low, high = ax.get_xlim()
    assert 0.8 < low < 0.91 and high <= 1.0  # not 0-1: the differences are visible
    assert "chance level 0.100" in ax.get_xlabel()  # far left of the axis: named
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p0", "p1", "p2"]  # best on top

    ax = accuracy_figure(_rows([0.3, 0.45]), chance=0.25, n_test=200).axes[0]
    assert any(line.get_xdata()[0] == 0.25 for line in ax.get_lines())  # a line at chance
    assert ax.get_xlim()[0] < 0.25


def test_speed_chart_puts_accuracy_against_fit_time_and_images_per_second():
    figure = speed_figure(_rows([0.9, 0.95, float("nan")]), chance=0.1)
    left, right = figure.axes[:2]
    assert (left.get_xscale(), right.get_xscale()) == ("log", "log")
    assert "fit time" in left.get_xlabel() and "images/s" in right.get_xlabel()
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["p0", "p1"]  # NaN: left out


def test_heatmap_names_metric_and_pipeline_and_keeps_the_best_cell_readable():
    grid = {"clf__C": [0.1, 1.0], "features__size": [(8, 8), (16, 16)]}
    params = [{"clf__C": c, "features__size": s} for c in (0.1, 1.0) for s in ((8, 8), (16, 16))]
    scores = np.array([0.5, 0.6, 0.7, 0.9])  # the best is the brightest (yellow in viridis)
    result = SearchResult(
        {"params": params, "mean_test_score": scores},
        {},
        0.9,
        None,
        grid,
        1.0,
        pipeline="hog-svm",
        scoring="balanced_accuracy",
        n_folds=5,
    )
    ax = heatmap_figure(result).axes[0]
    assert ax.get_title().startswith("hog-svm: mean balanced_accuracy over 5 folds")
    texts = {t.get_text(): t for t in ax.texts}
    assert texts["0.9000"].get_color() == "black"  # dark text on the bright best cell
    assert texts["0.9000"].get_fontweight() == "bold"
    assert texts["0.5000"].get_color() == "white"  # light text on the dark cell
    assert [t.get_text() for t in ax.get_xticklabels()] == ["(8, 8)", "(16, 16)"]
    assert any(p.get_linewidth() >= 2 for p in ax.patches)  # the frame of the best cell
