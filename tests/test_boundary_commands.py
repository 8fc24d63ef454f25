"""Commands at their edges: outputs checked first, one-line errors, Ctrl-C, the features command."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipelines._runtime import atomic_target, check_output_file, check_output_folder
from pipelines.batch import extract_folder, read_paths
from pipelines.cli import main as visionfeatures
from pipelines.cli._common import fail, interruptible
from pipelines.model_files import save_model
from scripts import extract_features, train

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _write(path, shape=(16, 16, 3), seed=0):
    path = Path(os.fsdecode(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    ok, data = cv2.imencode(".png", image)
    path.write_bytes(data.tobytes())
    return path


def _folder(root, n=4, classes="ab", shape=(16, 16, 3), seed=0):
    for j, c in enumerate(classes):
        for i in range(n):
            _write(Path(root) / c / f"{i:02d}.png", shape, seed=seed + 100 * j + i)
    return Path(root)


def _one_line(err):
    """The one line of an error message on stderr, beside any progress bar (drawn with \r)."""
    lines = [line for line in err.split("\n") if line.strip() and "\r" not in line]
    assert len(lines) == 1, err
    return lines[0]


# -- outputs checked before any work ----------------------------------------------------------
def test_train_into_an_existing_folder_fails_at_once(tmp_path, capsys):
    # It fitted for minutes, then failed and left a hidden temporary file behind.
    (tmp_path / "exists").mkdir()
    argv = ["--pipeline", "pixels-svm", "--dataset", "digits", "--out", str(tmp_path / "exists")]
    assert train.main(argv) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err) == (
        f"train.py: Output {str(tmp_path / 'exists')!r} is an existing folder; expected a file "
        "name."
    )
    assert "fitted" not in captured.out  # nothing was fitted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists"]


@pytest.mark.parametrize(
    ("command", "make", "words"),
    [
        (["train", "--pipeline", "pixels-svm", "--out"], "file-parent", "Cannot create"),
        (["search", "--pipeline", "pixels-svm", "--grid", "{}", "--out"], "file", "not a folder"),
        (["compare", "--out"], "file", "not a folder"),
        (["show-hog", "image.png", "--out"], "folder", "is an existing folder"),
        (["extract", "INPUT", "--out"], "file", "not a folder"),
    ],
)
def test_every_command_checks_its_output_first(tmp_path, capsys, command, make, words):
    (tmp_path / "INPUT").mkdir()
    _write(tmp_path / "INPUT" / "a.png")
    target = tmp_path / "target"
    if make == "file":
        target.write_text("keep")
    elif make == "folder":
        target.mkdir()
    else:  # a file where the output's folder should be
        (tmp_path / "blocker").write_text("keep")
        target = tmp_path / "blocker" / "model.skops"
    argv = [str(tmp_path / a) if a == "INPUT" else a for a in command] + [str(target)]
    code = visionfeatures(argv)
    assert code in (1, 2) and words in _one_line(capsys.readouterr().err)
    if make == "file":
        assert target.read_text() == "keep"


def test_output_checks_and_atomic_writes(tmp_path):
    assert check_output_file(tmp_path / "new" / "m.skops") == tmp_path / "new" / "m.skops"
    assert (tmp_path / "new").is_dir()  # the folder is made before the work, not after
    with pytest.raises(ValueError, match="exists and is not a folder"):
        check_output_folder(_touch(tmp_path / "f"))
    with pytest.raises(RuntimeError):
        with atomic_target(tmp_path / "result.bin") as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("the work failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "new"]  # no temporary left


def _touch(path):
    path.write_text("")
    return path


# -- one-line errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "hog: {orientations: [1, 2\n  bad: : yaml\n",
            "is not valid YAML or JSON at line 2, column 6: expected ',' or ']', but got ':'.",
        ),
        ("- hog\n- color\n", "must hold a mapping {feature: {parameter: value}}; got list."),
        ('{"hog": 12}', "The settings of feature 'hog' must be a mapping of parameters; got 12."),
        (b"\xff\xfe\x00", "Cannot read config file"),
        (None, "Cannot read config file"),
    ],
)
def test_config_errors_are_one_line(tmp_path, capsys, text, words):
    # A bad YAML file ended in a YAML traceback.
    config = tmp_path / "features.yaml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    elif text is not None:
        config.write_text(text)
    argv = [str(tmp_path), "--out", str(tmp_path / "out"), "--config", str(config)]
    assert extract_features.main(argv) == 2
    assert words in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_fail_keeps_every_message_on_one_line(capsys):
    assert fail("prog", "first line\n  second line\n", 3) == 3
    assert capsys.readouterr().err == "prog: first line second line\n"


def test_max_pixels_option(tmp_path, capsys):
    src = _folder(tmp_path / "in", n=2)
    _write(src / "a" / "big.png", (20, 20, 3))
    argv = [str(src), "--out", str(tmp_path / "o"), "--quiet", "--max-pixels", "300"]
    assert extract_features.main(argv) == 0
    assert _one_line(capsys.readouterr().err).endswith(
        "failed: a/big.png: image of 20x20 pixels is over the limit of 300 pixels (max_pixels)"
    )
    argv = [str(src), "--out", str(tmp_path / "p"), "--quiet", "--max-pixels", "10x10"]
    assert extract_features.main(argv) == 1
    assert _one_line(capsys.readouterr().err).endswith(
        "None of the 5 image files could be decoded (the first, 00.png: image of 16x16 pixels "
        "is over the limit of 100 pixels (max_pixels))."
    )
    with pytest.raises(SystemExit) as exc:
        extract_features.main([str(src), "--out", str(tmp_path / "p"), "--max-pixels", "0x3"])
    assert exc.value.code == 2


# -- Ctrl-C -----------------------------------------------------------------------------------
def test_ctrl_c_ends_with_one_line_and_status_130(monkeypatch, capsys):
    # Ctrl-C printed a 14-line traceback.
    import pipelines.datasets

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipelines.datasets, "load_dataset", interrupted)
    argv = ["--pipeline", "pixels-svm", "--dataset", "digits", "--out", "never.skops"]
    assert train.main(argv) == 130
    assert _one_line(capsys.readouterr().err) == "train.py: interrupted"

    @interruptible(resumes=True)
    def job(argv=None, prog=None):
        raise KeyboardInterrupt

    assert job(prog="job") == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_ctrl_c_during_an_extraction_resumes(tmp_path):
    src = _folder(tmp_path / "in", n=150)
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "scripts" / "extract_features.py"), str(src)]
    command += ["--out", str(out), "--quiet", "--chunk-size", "4", "--n-jobs", "1"]
    job = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "chunks").is_dir() or not any((out / "chunks").glob("chunk-*.npz")):
            if job.poll() is not None:  # ended (or failed) before a chunk was seen
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        job.send_signal(signal.SIGINT)
    _, err = job.communicate()
    if job.returncode == 0:  # it finished before the signal came: nothing to show
        pytest.skip("the extraction ended before Ctrl-C")
    assert job.returncode == 130
    assert _one_line(err.decode()) == (
        "extract_features.py: interrupted; run the same command again to resume where it stopped"
    )
    manifest = extract_folder(src, out, chunk_size=4)
    assert manifest["resumed"] >= 1
    reference = extract_folder(src, tmp_path / "reference", chunk_size=4)
    assert manifest["rows_sha256"] == reference["rows_sha256"]


# -- the features command ---------------------------------------------------------------------
def test_features_gives_the_rows_extract_gives(tmp_path, capsys):
    spec = ["--features", "hog,color", "--param", "hog.pixels_per_cell=4,4"]
    old = _folder(tmp_path / "old", n=3, seed=0)
    argv = [str(old), "--out", str(tmp_path / "old-out"), "--quiet", "--n-jobs", "1", *spec]
    assert extract_features.main(argv) == 0
    capsys.readouterr()
    extractor = tmp_path / "old-out" / "extractor.skops"
    # new images: three of the old ones, new ones of the same size, and one larger
    new = _folder(tmp_path / "new", n=3, seed=0)
    _write(new / "b" / "10.png", seed=77)
    _write(new / "b" / "wide.png", (24, 32, 3), seed=78)
    out = tmp_path / "new-out"
    assert visionfeatures(["features", str(extractor), str(new), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("8 images, 0 failures")
    names = {"features.npy", "labels.npy", "class_names.jsonl", "paths.jsonl", "manifest.json"}
    assert names | {"extractor.skops"} <= {p.name for p in out.iterdir()}
    assert (out / "extractor.skops").read_bytes() == extractor.read_bytes()
    rows = dict(zip(read_paths(out), np.load(out / "features.npy"), strict=True))
    old_rows = dict(
        zip(
            read_paths(tmp_path / "old-out"),
            np.load(tmp_path / "old-out" / "features.npy"),
            strict=True,
        )
    )
    for name, row in old_rows.items():
        np.testing.assert_array_equal(rows[name], row)  # the same images: the same rows
    # extract on the new folder (same settings) agrees for every image of the common size
    argv = [str(new), "--out", str(tmp_path / "extract-new"), "--quiet", "--n-jobs", "1", *spec]
    assert extract_features.main(argv) == 0
    capsys.readouterr()
    extracted = dict(
        zip(
            read_paths(tmp_path / "extract-new"),
            np.load(tmp_path / "extract-new" / "features.npy"),
            strict=True,
        )
    )
    assert set(extracted) == set(rows) - {"b/wide.png"}
    for name, row in extracted.items():
        np.testing.assert_array_equal(rows[name], row)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["extractor_sha256"] and manifest["image_shape"] == [16, 16, 3]


def test_features_refuses_what_is_not_an_extractor(tmp_path, capsys):
    from pipelines import make
    from pipelines.datasets import load_dataset

    digits = load_dataset("digits")
    model = make("pixels-softmax").fit(digits.images[:100], digits.labels[:100])
    path = save_model(model, tmp_path / "model.skops", input_shape=(8, 8))
    src = _folder(tmp_path / "in", n=1)
    for extractor, words in [
        (path, "holds a Pipeline, not a feature extractor written by an extraction"),
        (tmp_path / "missing.skops", "does not exist or is not a file"),
    ]:
        argv = ["features", str(extractor), str(src), "--out", str(tmp_path / "o")]
        assert visionfeatures(argv) == 1
        assert words in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


def test_predict_writes_any_file_name_back_as_its_bytes(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from pipelines.registry import build_extractor

    extractor = build_extractor({"pixels": {}})
    model = Pipeline([("features", extractor), ("clf", LogisticRegression())])
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    model.fit(images, [0, 1, 0, 1])
    path = save_model(model, tmp_path / "m.skops", class_names=["x", "y"], input_shape=(8, 8, 3))
    name = os.path.join(os.fsencode(tmp_path), b"\xff odd.png")
    _write(name, (8, 8, 3))
    code = "import sys; from scripts.predict import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), os.fsdecode(name)], env=ENV, capture_output=True
    )
    assert result.returncode == 0, result.stderr
    assert name in result.stdout  # the name's own bytes, so the CSV row names the file


def test_an_interrupted_job_keeps_its_chunks_and_no_partial_file(tmp_path):
    src = _folder(tmp_path / "in", n=4)

    def interrupt(stage, index):
        if stage == "chunk-done" and index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_folder(src, tmp_path / "out", chunk_size=2, on_event=interrupt)
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert left == [".visionfeatures.lock", "chunks", "extractor.skops", "run.json"]
    assert extract_folder(src, tmp_path / "out", chunk_size=2)["resumed"] == 2
