"""Batch extraction: outputs, failures, identical results, resuming after SIGKILL, arguments."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from features import RawPixels
from pipelines import _assembly
from pipelines.batch import extract_folder, read_class_names, read_paths
from pipelines.cli.extract import parse_features, parse_value
from pipelines.datasets import decode_image, decode_images, list_image_files
from pipelines.model_files import load_model
from pipelines.registry import EXTRACTORS, build_extractor, extractor_class
from scripts import extract_features as script

from ._numerics import bovw_atol

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_FILES = ("features.npy", "labels.npy", "class_names.jsonl", "paths.jsonl")
_CUT_JPEG = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))[1].tobytes()[:-2]
BAD = {
    "a/empty.jpg": "empty file",
    "b/notes.png": "not a decodable image",
    # without its end-of-image marker: OpenCV 4 decodes it (the library's own check refuses
    # it), OpenCV 5 does not (tests/test_datasets.py covers both ways on every version)
    "c/cut.jpg": "not a decodable image"
    if cv2.imdecode(np.frombuffer(_CUT_JPEG, np.uint8), cv2.IMREAD_COLOR) is None
    else "truncated JPEG (no end-of-image marker)",
    "c/wide.png": "image of shape (16, 20, 3) differs from the common shape (16, 16, 3) of the "
    "folder's images; give a size (--size) to resize every image",
}


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(data.tobytes())


def make_folder(root):
    """3 classes of 7 good images (16 x 16 PNG and JPEG) and the 4 bad files of BAD."""
    rng = np.random.default_rng(0)
    for c in "abc":
        for i in range(7):
            image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            _write(root / c / f"{i:02d}.{'png' if i % 2 else 'jpg'}", image)
    (root / "a" / "empty.jpg").write_bytes(b"")
    (root / "b" / "notes.png").write_text("not an image, just text\n")
    (root / "c" / "cut.jpg").write_bytes(_CUT_JPEG)  # no end marker
    _write(root / "c" / "wide.png", rng.integers(0, 256, (16, 20, 3), dtype=np.uint8))
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("images"))


def _good_files(folder):
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and str(p.relative_to(folder)) not in BAD
    )


def _same_output(a, b):
    for name in OUTPUT_FILES:
        assert (Path(a) / name).read_bytes() == (Path(b) / name).read_bytes(), name


def test_outputs_equal_the_extractor_on_decoded_images(folder, tmp_path):
    manifest = extract_folder(folder, tmp_path / "out", chunk_size=4)
    out = tmp_path / "out"
    paths = read_paths(out)
    assert paths == _good_files(folder)
    images = np.stack([decode_image(str(folder / p)) for p in paths])
    expected = RawPixels().fit(images).transform(images)
    features = np.load(out / "features.npy")
    assert features.dtype == np.float32
    np.testing.assert_array_equal(features, expected)
    labels = np.load(out / "labels.npy")
    np.testing.assert_array_equal(labels, ["abc".index(p[0]) for p in paths])
    assert (out / "class_names.jsonl").read_text() == '"a"\n"b"\n"c"\n'
    assert read_class_names(out) == ["a", "b", "c"]
    on_disk = json.loads((out / "manifest.json").read_text())
    assert {f["path"]: f["reason"] for f in on_disk["failures"]} == BAD
    assert on_disk["n_images"] == 21 and on_disk["n_failures"] == 4 and on_disk["n_files"] == 25
    assert on_disk["n_features"] == 768 and len(on_disk["feature_names"]) == 768
    assert on_disk["versions"]["numpy"] == np.__version__
    assert on_disk["parameters"]["features"] == {"pixels": {}}
    assert {"plan_seconds", "extract_seconds", "total_seconds"} <= set(on_disk["timings"])
    assert manifest["resumed"] == 0 and not (out / "chunks").exists()


def test_identical_whatever_workers_and_backend(folder, tmp_path):
    extract_folder(folder, tmp_path / "one", chunk_size=3, n_jobs=1)
    extract_folder(folder, tmp_path / "threads", chunk_size=3, n_jobs=2, backend="threading")
    _same_output(tmp_path / "one", tmp_path / "threads")
    # loky (processes) is compared by scripts/bench_batch.py and dask by tests/test_dask.py:
    # starting worker processes costs seconds on a loaded machine.


def test_size_resizes_every_image_and_flat_folders_have_no_labels(folder, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("01.png", "wide.png"):
        (flat / name).write_bytes((folder / "c" / name).read_bytes())
    extract_folder(flat, tmp_path / "out", size=(8, 8))
    out = tmp_path / "out"
    assert np.load(out / "features.npy").shape == (2, 8 * 8 * 3)
    assert (out / "paths.jsonl").read_text() == '"01.png"\n"wide.png"\n'
    assert not (out / "labels.npy").exists() and not (out / "class_names.jsonl").exists()


@pytest.mark.blas
@pytest.mark.parametrize("name", [n for n in EXTRACTORS if n != "pixels"])
def test_other_extractors_match_their_transform(folder, tmp_path, name):
    settings = {"n_words": 4, "n_training_patches": 500} if name == "bovw" else {}
    spec = {name: settings, "pixels": {"grey": True}}
    with threadpool_limits(1):  # BLAS threads on tiny k-means problems only contend
        extract_folder(folder, tmp_path / "out", features=spec, size=(24, 24), chunk_size=5)
        paths = read_paths(tmp_path / "out")
        images = np.stack([decode_image(str(folder / p), size=(24, 24)) for p in paths])
        extractor = build_extractor(spec)
        # extractors that learn are fitted on the whole (small) collection, as the job does
        extractor.fit(images if name == "bovw" else images[:1])
        expected = extractor.transform(images)
    got = np.load(tmp_path / "out" / "features.npy")
    if name == "bovw":  # chunks of 5 against one batch: float32 products blocked differently
        atol = bovw_atol(extractor.transformer_list[0][1], expected[:, : -24 * 24])
        np.testing.assert_allclose(got, expected, rtol=0, atol=atol)
    else:  # the HOG and colour kernels are exact
        np.testing.assert_array_equal(got, expected)


def _run_held(folder, out, hold):
    """Run an extraction in a subprocess that stops for good at ``hold``; SIGKILL it there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    marker = Path(out).with_name(Path(out).name + ".held")
    command = [sys.executable, str(ROOT / "tests" / "_held_extraction.py")]
    command += [str(folder), str(out), hold, str(marker)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():  # waits for a condition the process signals, not a guess
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the held run never reached its hold point"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize(
    ("hold", "done_before"), [("plan:0", 0), ("chunk-temp:1", 1), ("assembly:0", 7)]
)
def test_restart_after_sigkill_gives_identical_output(folder, tmp_path, hold, done_before):
    extract_folder(folder, tmp_path / "reference", chunk_size=4)
    _run_held(folder, tmp_path / "killed", hold)
    assert not (tmp_path / "killed" / "manifest.json").exists()
    manifest = extract_folder(
        folder, tmp_path / "killed", chunk_size=4, n_jobs=2, backend="threading"
    )
    assert manifest["resumed"] == done_before  # only the missing chunks were extracted
    _same_output(tmp_path / "reference", tmp_path / "killed")
    assert sorted(os.listdir(tmp_path / "killed")) == sorted(os.listdir(tmp_path / "reference"))


def test_rows_are_moved_when_the_final_header_is_shorter(folder, tmp_path, monkeypatch):
    extract_folder(folder, tmp_path / "reference", chunk_size=4)
    real = _assembly._npy_header  # the header reserved for 25 rows is made 64 bytes longer
    monkeypatch.setattr(
        _assembly, "_npy_header", lambda shape: real(shape) + b" " * 64 * (shape[0] == 25)
    )
    extract_folder(folder, tmp_path / "moved", chunk_size=4)
    _same_output(tmp_path / "reference", tmp_path / "moved")


def test_complete_run_is_not_repeated(folder, tmp_path, capsys):
    argv = [
        str(folder),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        "--chunk-size",
        "8",
        "--n-jobs",
        "1",
    ]
    assert script.main(argv) == 0
    first = capsys.readouterr()
    assert re.search(r"^21 images, 4 failures, 768 features in [\d.]+ s", first.out)
    assert "failed: a/empty.jpg: empty file" in first.err
    assert script.main(argv) == 0
    assert "already complete, nothing to do" in capsys.readouterr().out


def test_other_arguments_refused_unless_overwrite(folder, tmp_path):
    out = tmp_path / "out"
    extract_folder(folder, out, chunk_size=8)
    message = (
        f"{str(out)!r} holds features extracted with other arguments "
        "(size: None then, [8, 8] now); use --overwrite to replace them, "
        "or choose another output folder."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        extract_folder(folder, out, chunk_size=8, size=(8, 8))
    extract_folder(folder, out, chunk_size=8, size=(8, 8), overwrite=True)
    assert np.load(out / "features.npy").shape == (22, 192)  # wide.png is resized now


def test_folder_of_other_files_refused(folder, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    message = (
        f"{str(tmp_path)!r} is not empty and holds no extraction run (mine.txt); "
        "use --overwrite to write into it anyway, or choose an empty folder."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        extract_folder(folder, tmp_path)
    extract_folder(folder, tmp_path, overwrite=True)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_feature_specification():
    assert parse_value("4,4") == (4, 4) and parse_value("[2, 3]") == [2, 3]
    assert parse_value("none") is None and parse_value("L2-Hys") == "L2-Hys"
    config = {"pixels": {"grey": False, "size": [8, 8]}}
    spec = parse_features(None, ["pixels.grey=true"], config)
    assert spec == {"pixels": {"grey": True, "size": (8, 8)}}
    assert extractor_class("pixels") is RawPixels
    names = ", ".join(EXTRACTORS)
    with pytest.raises(ValueError, match=re.escape(f"Unknown feature 'sift'; available: {names}.")):
        parse_features("pixels,sift")
    with pytest.raises(
        ValueError, match=re.escape("Unknown parameter(s) bins of feature 'pixels'")
    ):
        parse_features("pixels", ["pixels.bins=3"])
    message = "Setting 'hog.orientations=4' is for feature 'hog', which is not among the chosen"
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_features("pixels", ["hog.orientations=4"])
    with pytest.raises(ValueError, match=re.escape("Expected a setting NAME.PARAMETER=VALUE")):
        parse_features("pixels", ["grey"])


def test_script_usage_errors(folder, tmp_path, capsys):
    argv = [str(folder), "--out", str(tmp_path / "o")]
    assert script.main([*argv, "--features", "sift"]) == 2
    assert "extract_features.py: Unknown feature 'sift'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        script.main([*argv, "--scheduler", "tcp://127.0.0.1:1"])
    assert exc.value.code == 2
    assert script.main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_images_outside_the_class_folders_are_failures_with_their_reason(folder, tmp_path):
    src = tmp_path / "in"
    for name in ("a/01.png", "b/01.png", "b/03.png"):
        _write(src / name, decode_image(str(folder / name)))
    _write(src / "loose.png", decode_image(str(folder / "a" / "03.png")))
    manifest = extract_folder(src, tmp_path / "out")
    assert read_paths(tmp_path / "out") == ["a/01.png", "b/01.png", "b/03.png"]
    assert manifest["failures"] == [{"path": "loose.png", "reason": "image outside a class folder"}]
    assert (manifest["n_files"], manifest["n_images"], manifest["n_failures"]) == (4, 3, 1)


@pytest.mark.blas
def test_fit_sample_fits_a_learning_extractor_on_evenly_spaced_files(folder, tmp_path):
    spec = {"bovw": {"n_words": 3, "n_training_patches": 300, "patch_size": 4}}
    words = {}
    with threadpool_limits(1):
        for fit_sample in (3, 1000):
            out = tmp_path / str(fit_sample)
            manifest = extract_folder(folder, out, features=spec, fit_sample=fit_sample)
            assert manifest["parameters"]["fit_sample"] == fit_sample
            fitted = load_model(out / "extractor.skops")["model"].transformer_list[0][1]
            words[fit_sample] = fitted.codebook_
        files = list_image_files(folder)[0]  # the job's order: class, then name
        sample = [files[i] for i in np.linspace(0, len(files) - 1, 3).astype(int)]
        decoded = [decode_images([p])[0][0] for p in sample]  # None: a failure
        images = np.stack([im for im in decoded if im is not None and im.shape == (16, 16, 3)])
        assert len(images) == 2  # c/wide.png, the last file, is the third
        expected = build_extractor(spec).fit(images).transformer_list[0][1]
    np.testing.assert_array_equal(words[3], expected.codebook_)
    assert words[1000].shape == words[3].shape and not np.array_equal(words[1000], words[3])


def test_script_config_param_size_overwrite_and_fit_sample(folder, tmp_path, capsys):
    config = tmp_path / "features.yaml"
    config.write_text(
        "pixels:\n  grey: true\n  size: [4, 4]\n"
        "hog:\n  orientations: 5\n  pixels_per_cell: [4, 4]\n"
    )
    out = tmp_path / "out"
    argv = [str(folder), "--out", str(out), "--quiet", "--n-jobs", "1", "--config", str(config)]
    assert script.main([*argv, "--features", "pixels"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["features"] == {"pixels": {"grey": True, "size": [4, 4]}}
    assert np.load(out / "features.npy").shape == (21, 16)  # grey 4 x 4
    assert capsys.readouterr().out.startswith("21 images, 4 failures, 16 features in ")

    # --param overrides the config; other arguments in the same DIR need --overwrite
    again = [*argv, "--features", "pixels", "--param", "pixels.size=2,3", "--size", "8,8"]
    assert script.main(again) == 1
    assert "use --overwrite to replace them" in capsys.readouterr().err
    assert np.load(out / "features.npy").shape == (21, 16)  # untouched
    assert script.main([*again, "--overwrite"]) == 0
    # --size: wide.png is resized to 8 x 8 with the others, no longer a failure
    assert np.load(out / "features.npy").shape == (22, 6)
    assert capsys.readouterr().out.startswith("22 images, 3 failures, 6 features in ")

    # without --features the config's features are taken, in its order
    other = tmp_path / "other"
    argv = [str(folder), "--out", str(other), "-q", "--n-jobs", "1", "--config", str(config)]
    assert script.main([*argv, "--fit-sample", "2", "--chunk-size", "5"]) == 0
    manifest = json.loads((other / "manifest.json").read_text())
    assert [block["name"] for block in manifest["features"]] == ["pixels", "hog"]
    assert manifest["parameters"]["fit_sample"] == 2
    assert manifest["parameters"]["chunk_size"] == 5
    assert manifest["features"][1]["parameters"]["orientations"] == 5
