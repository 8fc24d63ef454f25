"""Folder jobs at their edges: odd sizes, odd names, links, reruns, locks, workers, memory."""

import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import cv2
import joblib
import numpy as np
import pytest

from features import RawPixels
from pipelines._runtime import FolderLockedError, locked_folder, worker_count
from pipelines.batch import extract_folder, read_class_names, read_paths
from pipelines.datasets import (
    DecodeError,
    decode_image,
    decode_images,
    image_shape,
    list_image_files,
    load_image_folder,
)
from scripts import extract_features as script

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _write(path, shape=(16, 16, 3), seed=None):
    # each file its own generator: the same path and shape give the same image in any order
    if seed is None:
        seed = zlib.crc32(os.fsencode(path)) + shape[0] * shape[1]
    rng = np.random.default_rng(seed)
    path = Path(os.fsdecode(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", rng.integers(0, 256, shape, dtype=np.uint8))
    path.write_bytes(data.tobytes())
    return path


def _folder(root, n=5, classes="ab", shape=(16, 16, 3)):
    for c in classes:
        for i in range(n):
            _write(Path(root) / c / f"{i:02d}.png", shape)
    return Path(root)


def _png_header(path, rows, cols):
    """A PNG whose header declares rows x cols grey pixels (its data is empty)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)
    data = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return Path(path)


def _blank_png(path, rows, cols):
    """A real black grey PNG of rows x cols, written without holding its pixels in memory."""
    z = zlib.compressobj(1)
    row = bytes(cols + 1)  # filter byte 0, then the row
    idat = b"".join(z.compress(row) for _ in range(rows)) + z.flush()

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return Path(path)


def _manifest(out):
    return json.loads((Path(out) / "manifest.json").read_text())


def _reasons(out):
    return {f["path"]: f["reason"] for f in _manifest(out)["failures"]}


# -- one odd image ----------------------------------------------------------------------------
def test_an_odd_size_sorting_first_never_takes_the_others_down(tmp_path, capsys):
    # The first image fixed the shape: the five others all failed, and the command exited 0.
    src = tmp_path / "in"
    _write(src / "a_odd.png", (20, 16, 3))
    for i in range(5):
        _write(src / f"b{i}.png")
    argv = [str(src), "--out", str(tmp_path / "out"), "--quiet", "--n-jobs", "1"]
    assert script.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("5 images, 1 failures")
    assert read_paths(tmp_path / "out") == [f"b{i}.png" for i in range(5)]
    assert _reasons(tmp_path / "out") == {
        "a_odd.png": "image of shape (20, 16, 3) differs from the common shape (16, 16, 3) of "
        "the folder's images; give a size (--size) to resize every image"
    }
    # variants: the odd one in the middle, and odd ones that are many but fewer
    for name, shape in [("b2_odd.png", (16, 30, 3)), ("c1.png", (8, 8, 3)), ("c2.png", (8, 8, 3))]:
        _write(src / name, shape)
    manifest = extract_folder(src, tmp_path / "again", chunk_size=2)
    assert manifest["n_images"] == 5 and manifest["n_failures"] == 4


def test_a_tie_between_sizes_is_refused_before_any_work(tmp_path):
    src = tmp_path / "in"
    for i in range(2):
        _write(src / f"small{i}.png", (8, 8, 3))
        _write(src / f"large{i}.png", (12, 12, 3))
    message = (
        f"The images of {str(src.resolve())!r} have no single most common size (12x12 and 8x8: "
        "2 images each, and maybe others); give --size ROWS,COLS to resize every image to one "
        "size."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        extract_folder(src, tmp_path / "out")
    assert extract_folder(src, tmp_path / "out", size=(8, 8))["n_images"] == 4


# -- names ------------------------------------------------------------------------------------
ODD_NAMES = [
    b"\xff\xfe not utf-8.png",
    b"two\nlines.png",
    b"tab\tand 'quotes' \\ back.png",
    "caf\u00e9 \U0001f600.png".encode(),
    b"\\n looks escaped.png",
]


def test_any_file_name_the_os_allows(tmp_path, capsys):
    # A name that is not UTF-8 failed the job after all its work; a newline in a name shifted
    # paths.txt against the rows.
    src = _folder(tmp_path / "in", n=2)
    cls = os.fsencode(src / "a")
    for i, name in enumerate(ODD_NAMES):
        _write(os.path.join(cls, name), seed=i)
    odd_class = os.path.join(os.fsencode(src), b"class\nwith \xff")
    _write(os.path.join(odd_class, b"1.png"), seed=99)
    broken = os.path.join(cls, b"bad\nname\xff.png")
    Path(os.fsdecode(broken)).write_bytes(b"not an image")
    out = tmp_path / "out"
    assert script.main([str(src), "--out", str(out), "--quiet", "--n-jobs", "1"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].endswith(": not a decodable image")  # one line
    paths = read_paths(out)
    features = np.load(out / "features.npy")
    assert len(paths) == len(features) == 5 + len(ODD_NAMES)
    assert read_class_names(out) == ["a", "b", os.fsdecode(b"class\nwith \xff")]
    np.testing.assert_array_equal(np.load(out / "labels.npy")[-1], 2)
    on_disk = {os.fsencode(p) for p in paths}
    assert {os.path.join(b"a", n) for n in ODD_NAMES} <= on_disk  # the bytes come back
    for path, row in zip(paths, features, strict=True):
        image = decode_image(os.path.join(src, path))
        np.testing.assert_array_equal(row, RawPixels().fit(image[None]).transform(image[None])[0])
    assert list(_reasons(out)) == [os.fsdecode(os.path.join(b"a", b"bad\nname\xff.png"))]
    assert (out / "paths.jsonl").read_bytes().isascii()


def test_outputs_of_the_old_format_are_still_read(tmp_path):
    (tmp_path / "paths.txt").write_text("a/1.png\nb/2.png\n")
    (tmp_path / "class_names.txt").write_text("a\nb\n")
    assert read_paths(tmp_path) == ["a/1.png", "b/2.png"]
    assert read_class_names(tmp_path) == ["a", "b"]
    with pytest.raises(ValueError, match=re.escape("holds no paths.jsonl (nor paths.txt)")):
        read_paths(tmp_path / "nothing")


# -- links and special files ------------------------------------------------------------------
def test_links_and_special_files_are_listed_never_fatal(tmp_path):
    # A symlink loop stopped the whole run; a dangling link was skipped without a word.
    src = _folder(tmp_path / "in", n=2)
    os.symlink("loop.png", src / "a" / "loop.png")
    os.symlink("nowhere.png", src / "a" / "dangling.png")
    os.symlink("../b/00.png", src / "a" / "linked.png")  # a good link is followed
    os.mkfifo(src / "b" / "fifo.png")  # opening it would wait forever
    (src / "b" / "folder.png").mkdir()
    os.symlink("self", src / "self")  # a looping class folder
    expected = {
        "a/dangling.png": "dangling symbolic link (its target does not exist)",
        "a/loop.png": "symbolic link loop",
        "b/fifo.png": "not a regular file (a FIFO, socket or device)",
        "b/folder.png": "not a regular file (a folder)",
        "self": "symbolic link loop",
    }
    manifest = extract_folder(src, tmp_path / "out", chunk_size=2)
    assert _reasons(tmp_path / "out") == expected
    assert manifest["n_images"] == 5 and "a/linked.png" in read_paths(tmp_path / "out")
    with pytest.warns(UserWarning, match="symbolic link loop"):
        data = load_image_folder(src)
    assert {os.path.relpath(p, src): r for p, r in data.failures} == expected
    for path, reason in [("/dev/zero", "not a regular file"), (src / "a" / "loop.png", "loop")]:
        with pytest.raises(DecodeError, match=reason):
            decode_image(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_a_class_folder_that_cannot_be_listed_is_a_failure(tmp_path):
    src = _folder(tmp_path / "in", n=2, classes="abc")
    (src / "c").chmod(0)
    try:
        paths, _, names, failures = list_image_files(src)
    finally:
        (src / "c").chmod(0o755)
    assert names == ["a", "b", "c"] and len(paths) == 4
    assert failures == [(str(src / "c"), "cannot list the class folder: Permission denied")]


# -- output inside the input ------------------------------------------------------------------
@pytest.mark.parametrize("where", ["inside", "same", "alias"])
def test_an_output_inside_the_input_is_refused_before_any_work(tmp_path, where):
    # --out inside the input folder became a class of its own.
    src = _folder(tmp_path / "in", n=2)
    os.symlink(src, tmp_path / "alias")
    out = {"inside": src / "features", "same": src, "alias": tmp_path / "alias" / "f"}[where]
    before = sorted(p.name for p in src.rglob("*"))
    with pytest.raises(ValueError, match=re.escape("is inside the input folder")):
        extract_folder(src, out)
    assert sorted(p.name for p in src.rglob("*")) == before  # nothing was created


# -- reruns -----------------------------------------------------------------------------------
def test_a_rerun_redoes_what_changed(tmp_path):
    # After files were added or changed, a rerun said "already complete" and kept the old rows.
    src = _folder(tmp_path / "in", n=4)
    out = tmp_path / "out"
    spec = {"hog": {"pixels_per_cell": (4, 4)}, "pixels": {}}
    extract_folder(src, out, features=spec, chunk_size=3)
    assert extract_folder(src, out, features=spec, chunk_size=3)["already_complete"]
    _write(src / "a" / "new.png")  # added (and sorting in the middle: chunks shift)
    (src / "b" / "01.png").unlink()  # removed
    _write(src / "b" / "02.png", seed=99)  # changed content
    os.utime(src / "a" / "00.png", ns=(1, 1))  # only its time changed
    (src / "a" / "03.png").write_bytes(b"now broken")  # changed into a failure
    manifest = extract_folder(src, out, features=spec, chunk_size=3)
    run = manifest["run"]
    assert run["input_changes"] == {"added": 1, "removed": 1, "changed": 3}
    assert run["files_this_run"] == 4 and run["rows_reused"] == 4
    assert "the input folder changed since the last run: 1 added, 1 removed" in _summary(manifest)
    fresh = extract_folder(src, tmp_path / "fresh", features=spec, chunk_size=3)
    for name in ("features.npy", "paths.jsonl", "labels.npy"):
        assert (out / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    assert manifest["failures"] == fresh["failures"]
    assert not (out / "previous").exists()
    assert extract_folder(src, out, features=spec, chunk_size=3)["already_complete"]


def _summary(manifest):
    from pipelines.batch import summary_line

    return summary_line(manifest)


def test_a_rerun_redoes_everything_when_reuse_would_differ(tmp_path):
    src = _folder(tmp_path / "in", n=3)
    out = tmp_path / "out"
    spec = {"bovw": {"n_words": 4, "n_training_patches": 200}}  # learns from the images
    extract_folder(src, out, features=spec, chunk_size=2)
    _write(src / "a" / "new.png")
    manifest = extract_folder(src, out, features=spec, chunk_size=2)
    assert manifest["run"]["files_this_run"] == 7 and manifest["run"]["rows_reused"] == 0
    # the common size changes: every row is redone at the new shape
    pixels = tmp_path / "pixels"
    extract_folder(src, pixels)
    for i in range(8):
        _write(src / "b" / f"big{i}.png", (20, 20, 3))
    manifest = extract_folder(src, pixels)
    assert manifest["image_shape"] == [20, 20, 3] and manifest["run"]["rows_reused"] == 0
    assert manifest["n_images"] == 8 and manifest["n_failures"] == 7


def test_a_damaged_result_is_never_called_complete(tmp_path):
    # 360 of 600 rows were zero while the manifest's hash matched a clean run.
    src = _folder(tmp_path / "in", n=3)
    out = tmp_path / "out"
    manifest = extract_folder(src, out)
    rows = np.load(out / "features.npy")
    data = (out / "features.npy").read_bytes()
    assert manifest["rows_sha256"] == hashlib.sha256(rows.tobytes()).hexdigest()
    damaged = np.load(out / "features.npy", mmap_mode="r+")
    damaged[2:4] = 0
    damaged.flush()
    del damaged
    with pytest.raises(ValueError, match="does not hold the rows its manifest describes"):
        extract_folder(src, out)
    extract_folder(src, out, overwrite=True)
    assert extract_folder(src, out)["already_complete"]
    assert (out / "features.npy").read_bytes() == data


# -- locks and concurrent runs ----------------------------------------------------------------
def test_a_second_job_on_a_locked_folder_stops_with_one_line(tmp_path, capsys):
    src = _folder(tmp_path / "in", n=2)
    out = tmp_path / "out"
    out.mkdir()
    with locked_folder(out):
        with pytest.raises(FolderLockedError, match="is being written by another job"):
            extract_folder(src, out)
        assert script.main([str(src), "--out", str(out), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"(process {os.getpid()} on" in err
    assert not (out / "manifest.json").exists()

    holding, release = threading.Event(), threading.Event()

    def hold():
        with locked_folder(out):
            holding.set()
            release.wait(0.5)  # the job below waits meanwhile, then takes the lock

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    manifest = extract_folder(src, out, wait=True)
    holder.join()
    assert manifest["n_images"] == 4


def test_a_killed_job_never_leaves_its_lock(tmp_path):
    src = _folder(tmp_path / "in", n=2)
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import sys, threading; from pipelines._runtime import locked_folder\n"
        "with locked_folder(sys.argv[1]):\n"
        "    print('locked', flush=True); threading.Event().wait()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], env=ENV, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(FolderLockedError):
            extract_folder(src, out)
    finally:  # never leave it behind, even when the test fails
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert extract_folder(src, out)["n_images"] == 4


def test_two_concurrent_extractions_never_mix(tmp_path):
    # Two runs into one --out gave 360 zero rows of 600, or died with SIGBUS. Here a second
    # process starts while this one holds chunk 0 (on_event waits for it to end): it must
    # stop at once, in one line, and this run must complete as an uninterrupted run does.
    src = _folder(tmp_path / "in", n=20)
    reference = tmp_path / "reference"
    extract_folder(src, reference, chunk_size=8)
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "scripts" / "extract_features.py"), str(src)]
    command += ["--out", str(out), "--quiet", "--chunk-size", "8", "--n-jobs", "1"]
    other = {}

    def on_event(stage, index):
        if stage == "chunk-done" and index == 0:
            job = subprocess.run(command, env=ENV, capture_output=True, text=True)
            other.update(code=job.returncode, err=job.stderr)

    extract_folder(src, out, chunk_size=8, on_event=on_event)
    assert other["code"] == 1 and other["err"].count("\n") == 1, other
    assert "is being written by another job" in other["err"]
    assert (out / "features.npy").read_bytes() == (reference / "features.npy").read_bytes()
    assert np.load(out / "features.npy").any(axis=1).all()


@pytest.mark.parametrize("repeat", range(3))
def test_racing_jobs_one_completes_the_other_is_refused_or_finds_it_done(tmp_path, repeat):
    src = _folder(tmp_path / "in", n=12)
    reference = extract_folder(src, tmp_path / "reference", chunk_size=4)
    out = tmp_path / "out"
    start, results = threading.Barrier(2), []

    def job():
        start.wait()
        try:
            results.append(extract_folder(src, out, chunk_size=4)["already_complete"])
        except FolderLockedError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert False in results  # one job did the work
    other = results[1 - results.index(False)]
    assert other is True or "is being written by another job" in other
    assert _manifest(out)["rows_sha256"] == reference["rows_sha256"]


# -- workers ----------------------------------------------------------------------------------
def test_workers_are_capped_at_cores_and_tasks():
    cores = joblib.cpu_count()
    assert worker_count(100000) == cores and worker_count(-1) == cores
    assert worker_count(100000, n_tasks=1) == 1 and worker_count(None) == 1
    assert worker_count(-cores - 5) == 1
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ValueError, match="n_jobs must be a non-zero int or None"):
            worker_count(bad)


def test_a_huge_n_jobs_starts_no_more_workers_than_chunks(tmp_path):
    src = _folder(tmp_path / "in", n=3)
    manifest = extract_folder(src, tmp_path / "t", n_jobs=100000, backend="threading", chunk_size=3)
    assert manifest["run"]["workers"] == min(2, joblib.cpu_count())
    assert extract_folder(src, tmp_path / "auto", n_jobs="auto")["run"]["workers"] == 1


def test_auto_starts_workers_only_for_long_work(tmp_path, monkeypatch):
    import pipelines.batch

    src = _folder(tmp_path / "in", n=6)
    reference = extract_folder(src, tmp_path / "one", chunk_size=2, n_jobs=1)
    monkeypatch.setattr(pipelines.batch, "_PARALLEL_SECONDS", -1.0)  # any work is long now
    manifest = extract_folder(
        src, tmp_path / "auto", chunk_size=2, n_jobs="auto", backend="threading"
    )
    assert manifest["run"]["workers"] == min(2, joblib.cpu_count())
    assert manifest["rows_sha256"] == reference["rows_sha256"]


def _children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if re.search(rf"^PPid:\s+{pid}$", status, re.M):
                found.append(int(entry.name))
    return found


def _running(pid):
    try:
        state = re.search(r"^State:\s+(\w)", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return False
    return state is not None and state.group(1) != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_their_parent_is_killed(tmp_path):
    # After SIGKILL of the parent, loky workers ran on for minutes holding their memory.
    src = _folder(tmp_path / "in", n=8)
    marker = tmp_path / "held"
    command = [sys.executable, str(ROOT / "tests" / "_held_extraction.py")]
    command += [str(src), str(tmp_path / "out"), "chunk-temp:1", str(marker), "2"]
    parent = subprocess.Popen(command, env=ENV, stderr=subprocess.PIPE)
    children = []
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # a worker holds chunk 1 for good
            assert parent.poll() is None, parent.stderr.read().decode()
            assert time.monotonic() < deadline, "the held run never reached its hold point"
            time.sleep(0.05)
        children = _children(parent.pid)
        assert int(marker.read_text()) in children and len(children) >= 2
    finally:
        children = children or _children(parent.pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in children if _running(pid)]
    for pid in left:  # never leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"worker processes {left} outlived their parent"


# -- pixels and memory ------------------------------------------------------------------------
def test_an_image_over_max_pixels_is_a_listed_failure_read_from_its_header(tmp_path):
    src = _folder(tmp_path / "in", n=2)
    _png_header(src / "a" / "huge.png", 20000, 20000)  # 400 megapixels declared
    _png_header(src / "a" / "tall.png", 5000, 4000)  # over 4096x4096, under Pillow's limit
    manifest = extract_folder(src, tmp_path / "out")
    reasons = _reasons(tmp_path / "out")
    assert manifest["n_images"] == 4
    assert reasons["a/tall.png"] == (
        "image of 5000x4000 pixels is over the limit of 16777216 pixels (max_pixels)"
    )
    assert "is over the limit of 16777216 pixels (max_pixels)" in reasons["a/huge.png"]
    assert image_shape(src / "a" / "tall.png", max_pixels=5000 * 4000) == (5000, 4000)
    with pytest.raises(DecodeError, match="over the limit of 100 pixels"):
        image_shape(src / "a" / "00.png", max_pixels=100)


def test_a_size_over_the_limit_names_the_size(tmp_path, capsys):
    # --size 100000,100000 said that no image could be decoded.
    src = _folder(tmp_path / "in", n=1)
    message = "size 100000x100000 is 10000000000 pixels, over the limit of 16777216 pixels"
    for call in (
        lambda: extract_folder(src, tmp_path / "o", size=(100000, 100000)),
        lambda: decode_images([str(src / "a" / "00.png")], size=(100000, 100000)),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            call()
    argv = [str(src), "--out", str(tmp_path / "o"), "--size", "100000,100000"]
    assert script.main(argv) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "o").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")
def test_a_failing_allocation_is_reported_as_what_it_is(tmp_path):
    big = _blank_png(tmp_path / "big.png", 8000, 8000)
    code = (
        "import resource, sys\n"
        "from pipelines.datasets import decode_image, DecodeError\n"
        "size = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size + (40 << 20), resource.RLIM_INFINITY))\n"
        "try:\n"
        "    decode_image(sys.argv[1], grey=True, max_pixels=8000 * 8000)\n"
        "except DecodeError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(big)], env=ENV, capture_output=True, text=True
    )
    assert result.stdout.strip() == (
        "out of memory: the allocation for an image of 8000x8000 pixels failed (MemoryError)"
    ), result.stderr
