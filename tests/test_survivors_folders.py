"""Tests written for mutants of scripts/mutation.py that no other test caught: each pins one
behaviour of the library that the other tests did not look at closely enough (named in each
test's comment)."""

import os
import platform
import stat
import subprocess
import sys
import types
from contextlib import contextmanager

import joblib
import pytest

from features import RawPixels
from pipelines import _runtime
from pipelines._runtime import (
    FolderLockedError,
    atomic_target,
    check_output_file,
    check_output_folder,
    locked_folder,
    parallel_backend,
    worker_count,
)
from pipelines.batch import extract_folder
from pipelines.datasets import (
    DecodeError,
    check_size,
    decode_bytes,
    load_cifar10,
    load_image_folder,
    split_dataset,
)

from .test_boundary_folders import ENV, _folder, _png_header, _write
from .test_library_errors import _message


# == pipelines._runtime ========================================================================
def test_the_default_pixel_limit_is_4096_by_4096():
    # _runtime.DEFAULT_MAX_PIXELS (through datasets.check_size): 4096x4096 is the documented
    # default limit, a pixel more is refused
    assert check_size((4096, 4096)) == (4096, 4096)
    assert _message(ValueError, check_size, (4096, 4097)) == (
        "size 4096x4097 is 16781312 pixels, over the limit of 16777216 pixels per image "
        "(max_pixels, --max-pixels)."
    )


def test_a_block_that_fails_before_writing_raises_its_own_error(tmp_path):
    # _runtime.atomic_target: the temporary file may not exist yet when the block fails; the
    # block's error is raised, not a FileNotFoundError of the clean-up
    target = tmp_path / "result.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="^nothing written$"):
        with atomic_target(target):
            raise RuntimeError("nothing written")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.bin"]


def test_output_errors_are_whole_sentences(tmp_path):
    # _runtime.check_output_folder, _writable_folder: the messages name the output and why
    afile = tmp_path / "afile"
    afile.write_text("")
    assert _message(ValueError, check_output_folder, afile) == (
        f"Output {str(afile)!r} exists and is not a folder."
    )
    target = afile / "model.skops"
    assert _message(ValueError, check_output_file, target) == (
        f"Cannot create the folder of output {str(target)!r}: File exists."
    )
    assert _message(ValueError, check_output_folder, afile / "out") == (
        f"Cannot create output folder {str(afile / 'out')!r}: Not a directory."
    )


def test_check_output_folder_without_create_makes_nothing(tmp_path):
    # _runtime.check_output_folder(create=False): only a file in the way is refused
    assert check_output_folder(tmp_path / "a" / "b", create=False) == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []
    assert check_output_folder(tmp_path / "c") == tmp_path / "c"
    assert (tmp_path / "c").is_dir()


def test_a_locked_folder_names_the_process_and_machine_that_hold_it(tmp_path):
    # _runtime.locked_folder: the whole message, with the holder's process and machine read
    # back from the lock file
    with locked_folder(tmp_path):
        message = _message(FolderLockedError, lambda: locked_folder(tmp_path).__enter__())
    assert message == (
        f"{str(tmp_path)!r} is being written by another job (process {os.getpid()} on "
        f"{platform.node()}); wait until it ends (or pass --wait), or choose another output "
        "folder."
    )
    lock = tmp_path / _runtime.LOCK_NAME
    assert lock.read_text() == f"{os.getpid()} {platform.node()}\n"
    assert stat.S_IMODE(lock.stat().st_mode) & 0o111 == 0  # a plain file, not executable


def test_a_machine_without_a_name_is_called_this_machine(tmp_path, monkeypatch):
    # _runtime.locked_folder: platform.node() may be empty; the message still names the holder
    monkeypatch.setattr(platform, "node", lambda: "")
    with locked_folder(tmp_path):
        message = _message(FolderLockedError, lambda: locked_folder(tmp_path).__enter__())
    assert f"(process {os.getpid()} on this-machine);" in message


def test_a_garbled_lock_file_still_gives_the_message(tmp_path):
    # _runtime.locked_folder: the holder's line is read with undecodable bytes replaced
    with locked_folder(tmp_path):
        (tmp_path / _runtime.LOCK_NAME).write_bytes(b"42 h\xffst\n")
        message = _message(FolderLockedError, lambda: locked_folder(tmp_path).__enter__())
    assert "by another job (process 42 on h\ufffdst); wait" in message


def test_negative_n_jobs_count_back_from_the_cores(monkeypatch):
    # _runtime.worker_count: joblib's convention, -1 all cores, -2 all but one ...; at least 1
    monkeypatch.setattr(joblib, "cpu_count", lambda: 4)
    assert [worker_count(n) for n in (-1, -2, -3, -4, -5)] == [4, 3, 2, 1, 1]
    assert worker_count(-2, n_tasks=2) == 2 and worker_count(3, n_tasks=0) == 1
    monkeypatch.setattr(joblib, "cpu_count", lambda: 1)
    assert [worker_count(n) for n in (-1, 1, 8, None)] == [1, 1, 1, 1]


def _python(code, **kwargs):
    return subprocess.Popen([sys.executable, "-c", code], env=ENV, **kwargs)


def _finished(code):
    """(exit status, stdout) of ``code`` run to its end in a fresh interpreter."""
    worker = _python(code, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = worker.communicate(timeout=20)
    finally:
        worker.kill()
    return worker.returncode, out


def test_a_worker_runs_while_its_parent_runs_and_ends_when_it_ends():
    # _runtime.end_with_parent, for a worker that is not the parent's child (dask's): the
    # parent is only asked whether it still runs (never signalled), the worker goes on while
    # it does, and ends with status 1 within moments of its end
    parent = _python("import time; time.sleep(60)")
    worker = _python(
        "import threading\n"
        "from pipelines._runtime import end_with_parent\n"
        f"end_with_parent({parent.pid})\n"
        "print('watching', flush=True)\n"
        "threading.Event().wait(60)\n",
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline() == "watching\n"
        with pytest.raises(subprocess.TimeoutExpired):
            worker.wait(0.6)  # two checks at least
        assert parent.poll() is None
        parent.kill()
        parent.wait()
        assert worker.wait(10) == 1
    finally:
        for process in (parent, worker):
            process.kill()
            process.wait()


def test_a_worker_whose_work_ends_exits_while_its_parent_runs():
    # _runtime.end_with_parent: the watching thread never keeps a finished worker alive
    finished = _finished(
        "import os\n"
        "from pipelines._runtime import end_with_parent\n"
        "end_with_parent(os.getppid())\n"
        "print('done')\n"
    )
    assert finished == (0, "done\n")


def test_a_worker_checks_on_its_parent_four_times_a_second():
    # _runtime.end_with_parent: the check runs every 0.25 s (Event.wait never returns early,
    # so a longer period would never give a gap under 0.4 s)
    _, out = _finished(
        "import os, time\n"
        "from pipelines._runtime import end_with_parent\n"
        "calls, real = [], os.getppid\n"
        "os.getppid = lambda: calls.append(time.monotonic()) or real()\n"
        "end_with_parent(real())\n"
        "time.sleep(1.2)\n"
        "print(min(b - a for a, b in zip(calls[2:], calls[3:])))\n"
    )
    assert 0.24 < float(out) < 0.4


def test_a_child_worker_ends_when_its_parent_ends_even_before_it_is_reaped(tmp_path):
    # _runtime.end_with_parent, for a child (loky's workers): an ended parent that its own
    # parent has not reaped yet still answers os.kill, so the child watches whether it has
    # been handed to another parent
    child = tmp_path / "child.py"
    child.write_text(
        "import os, sys, time\n"
        "from pipelines._runtime import end_with_parent\n"
        "end_with_parent(os.getppid())\n"
        "sys.stderr.write('ready\\n'); sys.stderr.flush()\n"
        "time.sleep(20)\n"
        "print('still running')\n"
    )
    middle = _python(
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, {str(child)!r}], stderr=subprocess.PIPE)\n"
        "child.stderr.readline()\n",
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # the pipe closes when both have ended; the middle process is not reaped meanwhile
        out = middle.stdout.read()
    finally:
        middle.kill()
        middle.wait()
    assert out == ""


def _recording_config(configs):
    """A stand-in for joblib.parallel_config that records the options it is given."""

    @contextmanager
    def config(**options):
        configs.append(options)
        yield

    return config


def test_the_defaults_are_loky_and_one_worker(monkeypatch):
    # _runtime.parallel_backend: backend="loky", n_jobs=1 by default; loky's workers end with
    # this process (end_with_parent), threading's need nothing
    configs = []
    monkeypatch.setattr(joblib, "parallel_config", _recording_config(configs))
    with parallel_backend() as n_jobs:
        assert n_jobs == 1
    with parallel_backend("threading", 100000) as n_jobs:
        assert n_jobs == joblib.cpu_count()
    assert configs == [
        {"backend": "loky", "initializer": _runtime.end_with_parent, "initargs": (os.getpid(),)},
        {"backend": "threading"},
    ]


class _FakeDask:
    """A stand-in for ``distributed`` (not installed here): records clusters and clients."""

    def __init__(self):
        self.clusters, self.clients = [], []
        fake = self

        class LocalCluster:
            def __init__(self, **options):
                self.options, self.closed = options, False
                fake.clusters.append(self)

            def close(self):
                self.closed = True

        class Client:
            def __init__(self, target):
                self.target, self.closed = target, False
                fake.clients.append(self)

            def close(self):
                self.closed = True

        self.module = types.ModuleType("distributed")
        self.module.LocalCluster, self.module.Client = LocalCluster, Client


def test_the_dask_backend_starts_a_local_cluster_and_closes_it(monkeypatch):
    # _runtime.parallel_backend("dask"): without a scheduler, a cluster of n_jobs single-
    # threaded workers on loopback (all cores for None and -1), no dashboard, closed on exit;
    # joblib is given every worker (-1) and the objects to scatter
    dask, configs = _FakeDask(), []
    monkeypatch.setitem(sys.modules, "distributed", dask.module)
    monkeypatch.setattr(joblib, "cpu_count", lambda: 4)
    monkeypatch.setattr(joblib, "parallel_config", _recording_config(configs))
    for n_jobs, scatter in ((None, None), (1, ["X", "y"]), (-2, None)):
        with parallel_backend("dask", n_jobs, scatter=scatter) as jobs:
            assert jobs == -1
            assert not dask.clusters[-1].closed and not dask.clients[-1].closed
        assert dask.clusters[-1].closed and dask.clients[-1].closed
        assert dask.clients[-1].target is dask.clusters[-1]
    assert [cluster.options for cluster in dask.clusters] == [
        {"n_workers": n, "threads_per_worker": 1, "host": "127.0.0.1", "dashboard_address": None}
        for n in (4, 1, 3)
    ]
    assert configs == [
        {"backend": "dask", "scatter": None},
        {"backend": "dask", "scatter": ["X", "y"]},
        {"backend": "dask", "scatter": None},
    ]


def test_the_dask_backend_with_a_scheduler_starts_no_cluster(monkeypatch):
    # _runtime.parallel_backend("dask", scheduler=...): a client of that scheduler, closed on
    # exit, and no cluster of its own
    dask, configs = _FakeDask(), []
    monkeypatch.setitem(sys.modules, "distributed", dask.module)
    monkeypatch.setattr(joblib, "parallel_config", _recording_config(configs))
    with parallel_backend("dask", 4, scheduler="tcp://10.0.0.5:8786") as jobs:
        assert jobs == -1
    assert dask.clusters == []
    assert [(client.target, client.closed) for client in dask.clients] == [
        ("tcp://10.0.0.5:8786", True)
    ]
    assert configs == [{"backend": "dask", "scatter": None}]


# == pipelines.batch ===========================================================================
@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"chunk_size": 0}, "chunk_size must be a positive int; got 0."),
        ({"chunk_size": True}, "chunk_size must be a positive int; got True."),
        ({"fit_sample": 1.0}, "fit_sample must be a positive int; got 1.0."),
        ({"fit_sample": -2}, "fit_sample must be a positive int; got -2."),
    ],
)
def test_chunk_size_and_fit_sample_are_positive_ints(tmp_path, option, message):
    # batch.extract_folder: checked before any work, named in the message
    src = _folder(tmp_path / "in", n=1)
    assert _message(ValueError, extract_folder, src, tmp_path / "o", **option) == message
    assert not (tmp_path / "o").exists()


def test_one_file_a_chunk_and_a_fit_sample_of_one_are_accepted(tmp_path):
    # batch.extract_folder: 1 is the smallest chunk_size and fit_sample
    src = _folder(tmp_path / "in", n=2)
    manifest = extract_folder(src, tmp_path / "o", chunk_size=1, fit_sample=1)
    assert (manifest["n_images"], manifest["parameters"]["chunk_size"]) == (4, 1)


def test_the_documented_defaults_of_an_extraction(tmp_path, capsys):
    # batch.extract_folder: raw pixels, 256 files a chunk, a fit sample of 1000, the default
    # pixel limit, one worker on loky, no progress bar
    src = _folder(tmp_path / "in", n=1)
    manifest = extract_folder(src, tmp_path / "out")
    assert manifest["parameters"] == {
        "format": "visionfeatures-batch/2",
        "input": str(src.resolve()),
        "features": {"pixels": {}},
        "size": None,
        "fit_sample": 1000,
        "chunk_size": 256,
        "max_pixels": 4096 * 4096,
    }
    run = manifest["run"]
    assert (run["n_jobs"], run["workers"], run["backend"], run["scheduler"]) == (1, 1, "loky", None)
    assert capsys.readouterr().err == ""


def test_a_damaged_result_is_refused_by_its_whole_message(tmp_path):
    # batch._run: the rows of a complete run changed since; the message names the file
    import numpy as np

    src = _folder(tmp_path / "in", n=2)
    out = tmp_path / "out"
    extract_folder(src, out)
    damaged = np.load(out / "features.npy", mmap_mode="r+")
    damaged[0] = 0
    damaged.flush()
    del damaged
    assert _message(ValueError, extract_folder, src, out) == (
        f"{str(out / 'features.npy')!r} does not hold the rows its manifest describes (changed "
        "or damaged since the run); use --overwrite to extract again."
    )


def test_an_output_that_is_a_file_is_refused(tmp_path):
    # batch.extract_folder: a file where DIR should be is named, and left as it was
    src = _folder(tmp_path / "in", n=1)
    afile = tmp_path / "afile"
    afile.write_text("keep")
    assert _message(ValueError, extract_folder, src, afile) == (
        f"Output {str(afile)!r} exists and is not a folder."
    )
    assert afile.read_text() == "keep"


def test_a_rerun_on_a_changed_folder_reuses_the_failures_of_unchanged_files(tmp_path):
    # batch._reuse: a file that failed and has not changed fails again without being read
    src = _folder(tmp_path / "in", n=2)
    (src / "a" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    first = extract_folder(src, out, chunk_size=2)
    _write(src / "b" / "new.png")
    manifest = extract_folder(src, out, chunk_size=2)
    assert (
        manifest["failures"]
        == first["failures"]
        == [{"path": "a/broken.png", "reason": "not a decodable image"}]
    )
    run = manifest["run"]
    assert (run["files_this_run"], run["rows_reused"]) == (1, 4)
    assert run["input_changes"] == {"added": 1, "removed": 0, "changed": 0}
    assert manifest["n_images"] == 5


def test_no_usable_image_names_the_first_file_and_why(tmp_path):
    # batch._none_decoded: the first file decodes, but not at the common size of the others
    # (whose headers say 16x16 and whose data is missing)
    src = tmp_path / "in"
    _write(src / "a.png", (20, 20, 3))
    _png_header(src / "b.png", 16, 16)
    _png_header(src / "c.png", 16, 16)
    assert _message(ValueError, extract_folder, src, tmp_path / "o") == (
        "None of the 3 image files could be decoded (the first, a.png: its size differs from "
        "the others')."
    )


# == pipelines._assembly =======================================================================
def test_the_manifest_names_its_format_versions_and_timings(tmp_path):
    # _assembly._manifest, Assembler.finish: the format tag, every library version, timings
    # that add up; and the events at which a run may stop, each with its chunk index
    import cv2
    import numba
    import numpy as np
    import skimage
    import sklearn

    src = _folder(tmp_path / "in", n=2)
    events = []
    manifest = extract_folder(
        src, tmp_path / "out", chunk_size=3, on_event=lambda *event: events.append(event)
    )
    assert events == [
        ("plan", 0),
        ("chunk-temp", 0),
        ("chunk-done", 0),
        ("chunk-temp", 1),
        ("chunk-done", 1),
        ("assembly", 0),
        ("manifest", 0),
    ]
    assert manifest["format"] == manifest["parameters"]["format"] == "visionfeatures-batch/2"
    assert manifest["features"] == [
        {
            "name": "pixels",
            "class": "features.raw.RawPixels",  # where the class is imported from
            "parameters": RawPixels().get_params(),
            "columns": [0, 16 * 16 * 3],
        }
    ]
    assert manifest["versions"] == {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scikit-image": skimage.__version__,
        "opencv": cv2.__version__,
        "numba": numba.__version__,
        "joblib": joblib.__version__,
        "platform": sys.platform,
    }
    timings = manifest["timings"]
    # (a thread's CPU time and the wall clock tick apart: only nearly <=)
    assert 0 < timings["chunk_cpu_seconds_sum"] < timings["chunk_seconds_sum"] + 0.1
    assert timings["chunk_seconds_sum"] <= timings["extract_seconds"]
    parts = [timings[f"{part}_seconds"] for part in ("plan", "extract", "assemble")]
    assert min(parts) > 0 and sum(parts) <= timings["total_seconds"]


class _Stop(Exception):
    pass


def test_a_chunk_written_before_rows_were_reused_counts_none_reused(tmp_path):
    # _assembly.Assembler.advance: chunk files of an earlier version have no "reused" entry;
    # a run resumed from them counts no reused rows and writes what a fresh run writes
    import numpy as np

    src = _folder(tmp_path / "in", n=2)
    out = tmp_path / "out"

    def stop_after_chunk_0(stage, index):
        if (stage, index) == ("chunk-done", 0):
            raise _Stop

    with pytest.raises(_Stop):
        extract_folder(src, out, chunk_size=2, on_event=stop_after_chunk_0)
    chunk = out / "chunks" / "chunk-000000.npz"
    with np.load(chunk) as stored:
        old = {key: stored[key] for key in stored.files if key != "reused"}
    with open(chunk, "wb") as f:
        np.savez(f, **old)
    manifest = extract_folder(src, out, chunk_size=2)
    assert (manifest["resumed"], manifest["run"]["rows_reused"]) == (1, 0)
    extract_folder(src, tmp_path / "fresh", chunk_size=2)
    for name in ("features.npy", "labels.npy", "paths.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name


# == pipelines.datasets ========================================================================
def _png_bytes(shape, seed=0):
    import cv2
    import numpy as np

    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    return cv2.imencode(".png", image)[1].tobytes()


def test_a_header_that_understates_the_size_is_caught_after_decoding(monkeypatch):
    # datasets.decode_bytes: the decoded image is checked against the limit again
    from pipelines import datasets

    monkeypatch.setattr(datasets, "_header_shape", lambda data, limit: (2, 3))
    png = _png_bytes((20, 30, 3))
    assert _message(DecodeError, decode_bytes, png, max_pixels=599) == (
        "image of 20x30 pixels is over the limit of 599 pixels (max_pixels)"
    )
    assert decode_bytes(png, max_pixels=600).shape == (20, 30, 3)


def test_running_out_of_memory_while_resizing_names_both_sizes(monkeypatch):
    # datasets.decode_bytes: a MemoryError of the resize is a DecodeError with the sizes
    from pipelines import datasets

    def no_memory(images, size):
        raise MemoryError

    monkeypatch.setattr(datasets, "resize_images", no_memory)
    assert _message(DecodeError, decode_bytes, _png_bytes((20, 30, 3)), size=(10, 15)) == (
        "out of memory: the allocation for an image of 20x30 pixels resized to 10x15 failed "
        "(MemoryError)"
    )


def test_images_without_labels_cannot_be_split(tmp_path):
    # datasets.split_dataset: a flat folder's images have no labels to stratify on
    for i in range(4):
        _write(tmp_path / "flat" / f"{i}.png")
    data = load_image_folder(tmp_path / "flat", n_jobs=1)
    assert _message(ValueError, split_dataset, data) == (
        "The images have no labels (no class folders), so they cannot be split."
    )


def test_a_missing_cifar10_batch_is_named(tmp_path):
    # datasets.load_cifar10: batches.meta alone is not enough; the first missing batch is named
    import pickle

    import numpy as np

    with open(tmp_path / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"cat", b"dog"]}, f)
    rows = np.zeros((2, 3072), np.uint8)
    for name in ("data_batch_1", "data_batch_2"):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": rows, b"labels": [0, 1]}, f)
    assert _message(ValueError, load_cifar10, tmp_path) == (
        f"CIFAR-10 batch {str(tmp_path / 'data_batch_3')!r} is missing."
    )


def test_a_list_of_grey_images_of_any_sizes_is_grey():
    # datasets.is_grey: a list (images of different shapes) is grey when its images are 2-D;
    # an empty list is not
    import numpy as np

    from pipelines.datasets import is_grey

    assert is_grey([np.zeros((4, 4), np.uint8)]) is True
    assert is_grey([np.zeros((4, 4), np.uint8), np.zeros((5, 6), np.uint8)]) is True
    assert is_grey([np.zeros((4, 4, 3), np.uint8)]) is False
    assert is_grey([]) is False


def test_a_split_by_default_holds_out_a_fifth_with_seed_0(tmp_path):
    # datasets.split_dataset, load_split: test_size=0.2 and random_state=0 by default, in colour
    from pipelines.datasets import load_split

    for c in "ab":
        for i in range(10):
            _write(tmp_path / "in" / c / f"{i}.png")
    train, test = load_split(tmp_path / "in")
    given_train, given_test = load_split(tmp_path / "in", test_size=0.2, random_state=0)
    assert (len(train), len(test)) == (16, 4)
    assert (train.paths, test.paths) == (given_train.paths, given_test.paths)
    assert test.images.shape == (4, 16, 16, 3)
    data = load_image_folder(tmp_path / "in", n_jobs=1)
    again_train, again_test = split_dataset(data)
    assert (again_train.paths, again_test.paths) == (train.paths, test.paths)


def test_load_labelled_without_arguments_is_digits_and_names_an_unknown_set():
    # datasets.load_labelled: no data set and no folder is digits; an unknown name is refused
    from pipelines.datasets import load_labelled

    data = load_labelled()
    assert (data.images.shape, data.class_names[:2]) == ((1797, 8, 8), ["0", "1"])
    with pytest.raises(ValueError, match="^Unknown data set 'cifar'"):
        load_labelled("cifar")


def test_the_grayscale_warning_points_at_the_callers_line(tmp_path):
    # datasets._grey_argument: the FutureWarning names the line that passed grayscale=
    import warnings

    from pipelines.datasets import decode_images

    path = _write(tmp_path / "a.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, _ = decode_images([str(path)], grayscale=True)
    assert images[0].shape == (16, 16)
    assert [(w.category, w.filename) for w in caught] == [(FutureWarning, __file__)]


def test_the_summary_line_of_each_kind_of_run():
    # batch.summary_line: an already complete run, a rerun on a changed folder, and a run
    # too fast to time (no division by zero) each give their whole line
    from pipelines.batch import summary_line

    head = {"n_images": 12, "n_failures": 1, "n_features": 8}
    assert summary_line({**head, "already_complete": True}) == (
        "12 images, 1 failures, 8 features: already complete, nothing to do"
    )
    changed = {
        **head,
        "timings": {"total_seconds": 2.5},
        "run": {
            "input_changes": {"added": 2, "removed": 1, "changed": 3},
            "files_this_run": 5,
            "rows_reused": 7,
            "chunks_done_before_start": 0,
        },
    }
    assert summary_line(changed) == (
        "12 images, 1 failures, 8 features in 2.5 s (the input folder changed since the last "
        "run: 2 added, 1 removed, 3 changed; 5 files read, 7 rows reused)"
    )
    instant = {**head, "timings": {"total_seconds": 0.0}, "run": {"input_changes": None}}
    assert summary_line(instant) == (
        "12 images, 1 failures, 8 features in 0.0 s (12000000000 images/s)"
    )


def test_a_decompression_bomb_is_refused_with_its_declared_size_or_without_it(
    tmp_path, monkeypatch
):
    # datasets._header_shape: Pillow's refusal names the header's pixel count, which the
    # message repeats; a Pillow whose words differ still gets a whole sentence
    from PIL import Image

    from pipelines.datasets import DecodeError, decode_image

    path = _png_header(tmp_path / "huge.png", 20000, 20000)  # 400 megapixels declared
    limit = "is over the limit of 16777216 pixels (max_pixels)"
    with pytest.raises(DecodeError) as caught:
        decode_image(path)
    assert str(caught.value) == f"image of 400000000 pixels (from its header) {limit}"

    def refuse(*args, **kwargs):
        raise Image.DecompressionBombError("Image size exceeds the limit")

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(DecodeError) as caught:
        decode_image(path)
    assert str(caught.value) == f"image of more pixels than Pillow reads (from its header) {limit}"
