"""Library error messages compared whole, each raised by the most public function that can.

The other tests check these errors by a fragment at most, so a message that lost its words
(the mutation run empties string literals: scripts/mutation.py) went unnoticed. Each case
here builds the exact input that gives one error, and compares the whole message, or for a
command its exit status and its whole last line on stderr (as tests/test_command_errors.py
does). Where an error has a limit, the value just inside it is checked too.
"""

import errno
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import skops.io as sio
from joblib.externals.loky.process_executor import TerminatedWorkerError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import pipelines.batch as batch
from features import HOG
from pipelines._assembly import rows_sha256
from pipelines.batch import apply_extractor, extract_folder
from pipelines.datasets import (
    DecodeError,
    decode_image,
    load_cifar10,
    load_dataset,
    load_image_folder,
    load_labelled,
    load_split,
)
from pipelines.model_files import ModelFileError, load_model, save_model
from pipelines.registry import build_extractor
from pipelines.search import SearchResult, features_seconds, heatmap_figure, parse_grid, search

from ._cli import run_command

TAG = "visionfeatures-model/1"


# -- helpers ----------------------------------------------------------------------------------
def _image(path, shape, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def _message(error, call, *args, **kwargs):
    """The message of the ``error`` that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def _unreadable(monkeypatch, path):
    """Make reading the bytes of ``path`` fail as a file without read permission would
    (tests run as root, whom permissions do not stop)."""
    read_bytes = Path.read_bytes

    def refuse(self):
        if self == Path(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)


@pytest.fixture
def flat(tmp_path):
    """A flat folder (no classes) of five 4 x 4 colour images."""
    for i in range(5):
        _image(tmp_path / "flat" / f"{i}.png", (4, 4, 3), seed=i)
    return tmp_path / "flat"


@pytest.fixture
def extracted(flat, tmp_path):
    """The output folder of a finished extraction of ``flat`` (5 rows of 48 features)."""
    out = tmp_path / "out"
    extract_folder(flat, out, chunk_size=2)
    return out


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# -- pipelines._assembly: a batch extraction's output, assembled and checked -------------------
def test_a_chunk_the_workers_never_returned_stops_the_assembly(flat, tmp_path, monkeypatch):
    # Assembler.finish, through extract_folder: a backend that loses the result of chunk 1
    run_chunks = batch._run_chunks

    def losing(*args, **kwargs):
        for result in run_chunks(*args, **kwargs):
            if result[0] != 1:
                yield result

    monkeypatch.setattr(batch, "_run_chunks", losing)
    message = _message(RuntimeError, extract_folder, flat, tmp_path / "out", chunk_size=2)
    assert message == "chunk 1 was not extracted"
    assert not (tmp_path / "out" / "manifest.json").exists()


# rows_sha256 on a features.npy damaged after the extraction; (how, the message after the path)
DAMAGED_ROWS = [
    ("one value short", lambda data: data[:-4], "holds 956 bytes of rows; its header says 960."),
    (
        "one value more",
        lambda data: data + bytes(4),
        "holds 964 bytes of rows; its header says 960.",
    ),
    (
        "no rows",
        lambda data: data[: len(data) - 960],
        "holds 0 bytes of rows; its header says 960.",
    ),
]


@pytest.mark.parametrize(
    ("damage", "message"), [c[1:] for c in DAMAGED_ROWS], ids=[c[0] for c in DAMAGED_ROWS]
)
def test_rows_that_disagree_with_the_header_are_refused(extracted, damage, message):
    features = extracted / "features.npy"
    manifest = json.loads((extracted / "manifest.json").read_text())
    assert rows_sha256(features, (5, 48)) == manifest["rows_sha256"]  # intact: the same hash
    features.write_bytes(damage(features.read_bytes()))
    assert _message(ValueError, rows_sha256, features, (5, 48)) == f"{str(features)!r} {message}"


def test_a_features_file_that_is_not_npy_is_refused(extracted):
    features = extracted / "features.npy"
    features.write_bytes(b"not numpy at all")
    with pytest.raises(ValueError) as numpy_says:
        np.lib.format.read_magic(io.BytesIO(b"not numpy at all"))
    assert _message(ValueError, rows_sha256, features) == (
        f"{str(features)!r} is not a .npy file: {numpy_says.value}"
    )


# -- pipelines.batch: extract_folder and apply_extractor with an extractor file ----------------
@pytest.mark.parametrize(
    "extra", [{"features": {"hog": {}}}, {"size": (4, 4)}], ids=["features", "size"]
)
def test_an_extractor_file_takes_neither_features_nor_size(flat, tmp_path, extra):
    message = _message(
        ValueError,
        extract_folder,
        flat,
        tmp_path / "o",
        extractor_file=tmp_path / "e.skops",
        **extra,
    )
    assert message == (
        "An extractor file fixes the features and the image size; give neither features nor "
        "size with it."
    )


def test_an_unreadable_extractor_file_is_named_with_the_reason(flat, tmp_path, monkeypatch):
    extractor = tmp_path / "e.skops"
    extractor.write_bytes(b"whatever")
    _unreadable(monkeypatch, extractor)
    message = _message(ValueError, apply_extractor, extractor, flat, tmp_path / "o")
    assert message == f"Cannot read extractor file {str(extractor)!r}: Permission denied."


def test_an_extractor_never_fitted_is_refused(flat, tmp_path):
    extractor = tmp_path / "e.skops"
    save_model(build_extractor({"pixels": {}}), extractor, input_shape=(4, 4, 3))
    message = _message(ValueError, apply_extractor, extractor, flat, tmp_path / "o")
    assert message == f"{str(extractor)!r} holds an extractor that was never fitted."


# -- pipelines._runtime: worker_count, parallel_backend, check_output_file ---------------------
@pytest.mark.parametrize("n_jobs", [0, 1.5, True, "2"])
def test_n_jobs_is_a_non_zero_int(flat, tmp_path, n_jobs):
    message = _message(ValueError, extract_folder, flat, tmp_path / "o", n_jobs=n_jobs)
    assert message == f"n_jobs must be a non-zero int or None; got {n_jobs!r}."
    assert not (tmp_path / "o").exists()  # refused before any work


@pytest.mark.parametrize("n_jobs", [-1, 1, None])
def test_n_jobs_next_to_zero_and_none_are_accepted(flat, tmp_path, n_jobs):
    assert extract_folder(flat, tmp_path / "o", n_jobs=n_jobs)["n_images"] == 5


def test_a_scheduler_needs_the_dask_backend(digits):
    message = _message(
        ValueError,
        search,
        "pixels-softmax",
        digits.images[:40],
        digits.labels[:40],
        {"clf__C": [1.0]},
        cv=2,
        cache=False,
        scheduler="tcp://127.0.0.1:1",
    )
    assert message == "A scheduler address is only used with backend 'dask'."


def test_an_unknown_backend_names_the_ones_there_are(flat, tmp_path, digits):
    message = _message(ValueError, extract_folder, flat, tmp_path / "o", backend="spark")
    assert message == "Unknown backend 'spark'; expected one of loky, threading, dask."
    assert not (tmp_path / "o").exists()
    grid = {"clf__C": [1.0]}
    images, labels = digits.images[:40], digits.labels[:40]
    message = _message(
        ValueError, search, "pixels-softmax", images, labels, grid, cv=2, backend="threading"
    )
    assert message == "Unknown backend 'threading'; expected one of loky, dask."


def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path, capsys):
    fifo = tmp_path / "model.skops"
    os.mkfifo(fifo)
    code, last = run_command(["train", "--pipeline", "hog-svm", "--out", str(fifo)], capsys)
    assert (code, last) == (
        2,
        f"visionfeatures train: Output {str(fifo)!r} exists and is not a regular file.",
    )


# -- pipelines.datasets: check_size (through load_image_folder), files, folders ----------------
@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((0, 4), "size must be a pair of positive ints; got (0, 4)."),
        ((4, 0), "size must be a pair of positive ints; got (4, 0)."),
        ((-3, 4), "size must be a pair of positive ints; got (-3, 4)."),
        ((4,), "size must be a pair (rows, cols); got (4,)."),
        ((4, 4, 3), "size must be a pair (rows, cols); got (4, 4, 3)."),
        ("ab", "size must be a pair (rows, cols); got 'ab'."),
        (5, "size must be a pair (rows, cols); got 5."),
    ],
)
def test_a_size_is_a_pair_of_positive_ints(flat, size, message):
    assert _message(ValueError, load_image_folder, flat, size=size) == message


def test_the_smallest_size_is_accepted(flat):
    assert load_image_folder(flat, size=(1, 1)).images.shape == (5, 1, 1, 3)


def _sized_file(path, n_bytes):
    with open(path, "wb") as f:
        f.truncate(n_bytes)  # sparse: no disk space, nothing to write
    return path


def test_a_file_larger_than_any_image_within_the_limit_is_refused_unread(tmp_path):
    # decode_image: 8 bytes a pixel plus 64 MiB of metadata; with max_pixels=1 that is
    # 67108872 bytes, the largest file that is read
    most = 8 + (64 << 20)
    huge = _sized_file(tmp_path / "huge.png", most + 1)
    assert _message(DecodeError, decode_image, huge, max_pixels=1) == (
        "file of 67108873 bytes is larger than any image within the limit of 1 pixels"
    )
    largest = _sized_file(tmp_path / "largest.png", most)
    assert _message(DecodeError, decode_image, largest, max_pixels=1) == "not a decodable image"


@pytest.fixture
def split(tmp_path):
    """train/ (classes a, b) and test/ (classes a, c)."""
    for part, classes in (("train", "ab"), ("test", "ac")):
        for c in classes:
            _image(tmp_path / "split" / part / c / "0.png", (4, 4, 3))
    return tmp_path / "split"


def test_a_split_folder_is_not_one_folder_of_images(split):
    assert _message(ValueError, load_image_folder, split) == (
        f"{str(split)!r} holds train/ and test/ folders; load them with load_split(root) or "
        "point at one of them."
    )


def test_train_and_test_must_have_the_same_classes(split):
    assert _message(ValueError, load_split, split) == (
        f"train/ and test/ of {str(split)!r} have different class folders: ['a', 'b'] and "
        "['a', 'c']."
    )


def test_a_flat_folder_cannot_be_split(flat):
    assert _message(ValueError, load_split, flat) == (
        f"{str(flat)!r} has no class folders, so it has no labels to split."
    )


def test_labelled_images_of_different_shapes_need_a_size(tmp_path):
    _image(tmp_path / "a" / "0.png", (4, 4, 3))
    _image(tmp_path / "b" / "0.png", (5, 4, 3))
    assert _message(ValueError, load_labelled, folder=tmp_path) == (
        f"The images of {str(tmp_path)!r} have different shapes ([(4, 4, 3), (5, 4, 3)], ...); "
        "give a size to resize them to one shape."
    )


def test_a_folder_without_batches_meta_is_not_cifar10(flat):
    assert _message(ValueError, load_cifar10, flat) == (
        f"{str(flat)!r} is not a CIFAR-10 python folder: no batches.meta in it."
    )


# -- pipelines.model_files: load_model on files that cannot be read or hold bad content --------
def test_a_pickle_that_cannot_be_loaded_says_why(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.GLOBAL + b"nonexistent_module_xyz\nThing\n" + pickle.STOP)
    assert _message(ModelFileError, load_model, path, allow_pickle=True) == (
        f"Cannot load pickle file {str(path)!r}: ModuleNotFoundError: No module named "
        "'nonexistent_module_xyz'."
    )


def test_an_unreadable_model_file_is_named_with_the_reason(tmp_path, monkeypatch):
    path = tmp_path / "model.skops"
    path.write_bytes(b"whatever")
    _unreadable(monkeypatch, path)
    assert _message(ModelFileError, load_model, path) == (
        f"Cannot read model file {str(path)!r}: Permission denied."
    )


def _content(model, **values):
    return {"format": TAG, "model": model, "class_names": None, "input_shape": [8, 8], **values}


def _fitted_clf():
    return LogisticRegression().fit(np.eye(64)[:2], [0, 1])


def _without_c(path):
    """A model file whose LogisticRegression lost its parameter C (edited in the zip)."""
    sio.dump(_content(_fitted_clf()), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    del schema["content"]["model"]["content"]["content"]["C"]
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _with_memory(path):
    model = Pipeline([("clf", _fitted_clf())], memory="/var/cache/x")
    sio.dump(_content(model), path)


def _with_huge_hog(path):
    model = Pipeline([("features", HOG(size=(100000, 100000))), ("clf", _fitted_clf())])
    sio.dump(_content(model), path)


# (what the file holds, how it is written, the message after "Model file 'PATH' ")
HOSTILE_CONTENT = [
    (
        "malformed",
        _without_c,
        "holds a malformed estimator (AttributeError: 'LogisticRegression' object has no "
        "attribute 'C').",
    ),
    (
        "memory",
        _with_memory,
        "holds a Pipeline with memory='/var/cache/x' (model), and a model file must never "
        "name files.",
    ),
    (
        "huge size",
        _with_huge_hog,
        "holds an image size out of range at model.steps.features: size 100000x100000 is "
        "10000000000 pixels, over the limit of 16777216 pixels per image (max_pixels, "
        "--max-pixels).",
    ),
]


@pytest.mark.parametrize(
    ("write", "message"), [c[1:] for c in HOSTILE_CONTENT], ids=[c[0] for c in HOSTILE_CONTENT]
)
def test_hostile_content_is_refused_in_one_line(tmp_path, write, message):
    path = tmp_path / "model.skops"
    write(path)
    assert _message(ModelFileError, load_model, path) == f"Model file {str(path)!r} {message}"


# -- pipelines.search: features_seconds, parse_grid, search, heatmap_figure ---------------------
def test_features_seconds_needs_every_event_of_the_search():
    events = [("fit", False, 1.0), ("transform", False, 0.5)] * 2
    assert features_seconds(events, 2, 1).tolist() == [1.5, 1.5]
    assert _message(ValueError, features_seconds, events[:3], 2, 1) == (
        "Expected 4 events of a sequential search; got 3."
    )


def test_a_grid_that_is_neither_json_nor_a_file_is_refused(tmp_path):
    assert _message(ValueError, parse_grid, '{"clf__C": [1,}') == (
        "The grid is not valid JSON: Expecting value: line 1 column 15 (char 14)."
    )
    missing = str(tmp_path / "grid.yaml")
    assert _message(ValueError, parse_grid, missing) == (
        f"The grid {missing!r} is neither inline JSON nor an existing JSON/YAML file."
    )


def test_a_distribution_needs_randomised_search(digits):
    grid = {"clf__C": {"loguniform": [0.01, 1.0]}}
    images, labels = digits.images[:40], digits.labels[:40]
    message = _message(ValueError, search, "pixels-softmax", images, labels, grid, cache=False)
    assert message == "'clf__C' is a distribution; distributions need randomised search (n_iter)."


def test_a_heatmap_of_results_outside_the_grid_is_refused():
    grid = {"clf__C": [0.1, 1.0], "features__orientations": [6, 9]}
    params = [{"clf__C": c, "features__orientations": o} for c in (0.1, 0.5) for o in (6, 9)]
    results = {"params": params, "mean_test_score": [0.9, 0.8, 0.7, 0.6]}
    result = SearchResult(results, params[0], 0.9, None, grid, 1.0)
    assert _message(ValueError, heatmap_figure, result) == "value 0.5 is not in the grid"


# -- pipelines.cli: argument types (_common.pixel_count, extract.n_jobs_value,
#    serve._milliseconds), extract.parse_features, interruptible, run_folder_job -----------------
# (argv with {t} for the folder of the test, status, the line after "visionfeatures CMD: ")
REFUSED = [
    ("extract {t} --out {t}/o --max-pixels 0", "argument --max-pixels", "'0'"),
    ("extract {t} --out {t}/o --max-pixels 4x0", "argument --max-pixels", "'4x0'"),
    ("extract {t} --out {t}/o --max-pixels 3x", "argument --max-pixels", "'3x'"),
    ("extract {t} --out {t}/o --max-pixels 2x2x2", "argument --max-pixels", "'2x2x2'"),
    ("extract {t} --out {t}/o --n-jobs 0", "argument --n-jobs", "'0'"),
    ("extract {t} --out {t}/o --n-jobs two", "argument --n-jobs", "'two'"),
    ("serve {t}/m.skops --max-wait-ms -0.5", "argument --max-wait-ms", "'-0.5'"),
    ("serve {t}/m.skops --max-wait-ms 10000.5", "argument --max-wait-ms", "'10000.5'"),
    ("serve {t}/m.skops --max-wait-ms nan", "argument --max-wait-ms", "'nan'"),
    ("serve {t}/m.skops --max-wait-ms soon", "argument --max-wait-ms", "'soon'"),
]
EXPECTED = {
    "--max-pixels": "expected N or ROWSxCOLS such as 4096x4096; got ",
    "--n-jobs": "expected auto or a non-zero integer; got ",
    "--max-wait-ms": "expected milliseconds from 0 to 10000; got ",
}


@pytest.mark.parametrize(("argv", "option", "value"), REFUSED, ids=[c[0][-26:] for c in REFUSED])
def test_a_value_out_of_range_is_a_usage_error(argv, option, value, tmp_path, capsys):
    words = argv.format(t=tmp_path).split()
    code, last = run_command(words, capsys)
    expected = f"error: {option}: {EXPECTED[option.split()[1]]}{value}"
    assert (code, last) == (2, f"visionfeatures {words[0]}: {expected}")


# the values at the limits pass the parsing: the command goes on to its next error
ACCEPTED = [
    "extract {t}/missing --out {t}/o --max-pixels 1",
    "extract {t}/missing --out {t}/o --max-pixels 1x1",
    "extract {t}/missing --out {t}/o --n-jobs -1",
    "serve {t}/missing.skops --max-wait-ms 0",
    "serve {t}/missing.skops --max-wait-ms 10000",
]
NEXT_ERROR = {
    "extract": (1, "Image folder '{t}/missing' does not exist or is not a folder."),
    "serve": (1, "Model file '{t}/missing.skops' does not exist or is not a file."),
}


@pytest.mark.parametrize("argv", ACCEPTED, ids=[a[-26:] for a in ACCEPTED])
def test_a_value_at_the_limit_is_accepted(argv, tmp_path, capsys):
    words = argv.format(t=tmp_path).split()
    status, line = NEXT_ERROR[words[0]]
    code, last = run_command(words, capsys)
    assert (code, last) == (status, f"visionfeatures {words[0]}: {line.format(t=tmp_path)}")


@pytest.mark.parametrize("setting", ["pixels.grey", "pixels=true", "pixels.=true", "grey"])
def test_a_setting_is_name_dot_parameter_equals_value(setting, tmp_path, capsys):
    argv = ["extract", str(tmp_path), "--out", str(tmp_path / "o"), "--param", setting]
    code, last = run_command(argv, capsys)
    assert (code, last) == (
        2,
        f"visionfeatures extract: Expected a setting NAME.PARAMETER=VALUE; got {setting!r}.",
    )


# (what extract_folder raises, the line after "visionfeatures extract: ")
FAILED_WORK = [
    (MemoryError(), "out of memory: an allocation failed"),
    (
        MemoryError("Unable to allocate 8.00 GiB"),
        "out of memory: an allocation failed (Unable to allocate 8.00 GiB)",
    ),
    (
        TerminatedWorkerError("A worker process was unexpectedly terminated (SIGKILL)."),
        "a worker process ended abruptly (A worker process was unexpectedly terminated "
        "(SIGKILL).); the chunks finished so far are kept: run the same command again to resume",
    ),
]


@pytest.mark.parametrize(
    ("error", "line"), FAILED_WORK, ids=["memory", "memory with detail", "worker killed"]
)
def test_a_failure_during_the_work_ends_with_one_line(error, line, tmp_path, monkeypatch, capsys):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(batch, "extract_folder", failing)
    code, last = run_command(["extract", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert (code, last) == (1, f"visionfeatures extract: {line}")
