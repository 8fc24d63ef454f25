"""Batch feature extraction: a folder of image files to ``features.npy`` and a manifest.

The job locks its output folder DIR (:func:`pipelines._runtime.locked_folder`: a second job
on the same DIR stops with one line, or waits; a killed job never leaves the lock behind),
then runs in three phases, each of which leaves DIR in a state a restart can continue from:

1. **Plan.** List the files (sorted, as :func:`pipelines.datasets.list_image_files` does,
   with each file's size and modification time), fix the image shape (``size``, or without
   it the most common shape of the folder, read from the files' headers), fit the
   extractors (on the first image of that shape, or on an evenly spaced sample of
   ``fit_sample`` files for extractors that learn, such as the bag of visual words), and
   fix the chunk boundaries by *file*: chunk ``k`` holds files ``k * chunk_size`` to
   ``(k + 1) * chunk_size``. The fitted extractor goes to ``extractor.skops`` and the plan
   (arguments, file list, labels, listing) to ``run.json``, each written to a temporary name
   and renamed into place, so a file that exists is complete.
2. **Chunks.** A worker (in this process, or joblib's ``loky``, ``threading`` or ``dask``)
   decodes the files of one chunk, extracts the features of those that decoded, and writes
   ``chunks/chunk-<k>.npz`` (the rows, the indices of the files they came from and the
   failures with their reasons) atomically in the same way. A chunk is done exactly when its
   file exists; a restart runs only the chunks that have none.
3. **Assembly** (:mod:`pipelines._assembly`). A file that fails to decode has no row, so the
   final row of a chunk is known only once every chunk before it is done. The parent process
   copies each chunk into ``.features.npy.tmp`` as soon as the chunks before it are done
   (while the workers go on), through a memory map of just that chunk's rows, so memory
   stays bounded by one chunk; the ``.npy`` header is written once the row count is known.
   Then the file is renamed to ``features.npy`` and ``labels.npy``, ``class_names.jsonl``,
   ``paths.jsonl`` and, last, ``manifest.json`` follow; the manifest (whose ``rows_sha256``
   is computed from the rows read back from ``features.npy``) marks the job as complete,
   after which the chunk files are removed.

A run killed at any moment (even with SIGKILL) and started again with the same arguments
continues where it stopped and writes the same bytes as an uninterrupted run; the output does
not depend on ``n_jobs`` or the backend either, as every chunk is computed by the same function
on the same files. Different arguments into a DIR that holds a run are refused unless
``overwrite=True``.

**The input folder changes.** Every start lists the input folder again and compares a hash
of the listing (each file's relative name, size and modification time in nanoseconds, the
class folders and the listing failures) with the plan's. When it differs, the job plans
again: files added, removed or changed are found by name, size and modification time (not by
content: a file rewritten with the same size within the same nanosecond tick is not seen;
``overwrite=True`` redoes everything). For extractors that learn nothing from the images
(pixels, HOG, colour: exact kernels, one row a file whatever the batch), the rows and failures
of unchanged files are taken from the previous result and only the new and changed files are
decoded, when the image shape stays the same; otherwise every file is extracted again. Either
way the result is the one a fresh run on the folder as it now is gives.
"""

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from datetime import datetime, timezone
from numbers import Integral
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ._assembly import (
    CHUNKS,
    CLASS_NAMES,
    FORMAT,
    PATHS,
    Assembler,
    chunk_path,
    n_features_of,
    read_class_names,
    read_paths,
    rows_sha256,
)
from ._runtime import (
    DEFAULT_MAX_PIXELS,
    LOCK_NAME,
    atomic_target,
    check_backend,
    jsonable,
    locked_folder,
    parallel_backend,
    worker_count,
    write_atomic,
)
from .datasets import (
    DecodeError,
    check_max_pixels,
    check_size,
    decode_image,
    decode_images,
    image_shapes,
    list_image_files,
)
from .model_files import load_model, loads_model, save_model
from .registry import EXTRACTORS, build_extractor, check_feature_spec, learns_from_images

__all__ = ["extract_folder", "apply_extractor", "summary_line", "read_paths", "read_class_names"]

_RUN = "run.json"
_EXTRACTOR = "extractor.skops"
_PREVIOUS = "previous"  # the last complete result, while a run on a changed folder reuses it
_OUTPUTS = ("features.npy", "labels.npy", CLASS_NAMES, PATHS, "manifest.json")
_OLD_OUTPUTS = ("paths.txt", "class_names.txt")  # format /1
_OWN_NAMES = {_RUN, _EXTRACTOR, CHUNKS, _PREVIOUS, LOCK_NAME, *_OUTPUTS, *_OLD_OUTPUTS}
# With n_jobs="auto", worker processes start only when the work left after the first two
# chunks would take longer than this in one process: starting workers (and importing NumPy,
# OpenCV and numba in each) costs seconds, which only a longer job wins back.
_PARALLEL_SECONDS = 8.0
# Extractors whose rows depend on nothing but the image (exact kernels, no fitting on the
# images): a rerun on a changed folder reuses their rows of unchanged files.
_EXACT = {entry.class_name for entry in EXTRACTORS.values() if not entry.learns}


# -- the job ----------------------------------------------------------------------------------
def extract_folder(
    input_folder,
    out,
    *,
    features=None,
    size=None,
    chunk_size=256,
    fit_sample=1000,
    n_jobs=1,
    backend="loky",
    scheduler=None,
    overwrite=False,
    progress=False,
    max_pixels=DEFAULT_MAX_PIXELS,
    wait=False,
    extractor_file=None,
    on_event=None,
):
    """Extract the features of every image file of a folder into ``out``; resumable.

    Parameters
    ----------
    input_folder : str or Path
        ``root/<class>/<image>`` (labelled) or a flat folder of images (no labels).
    out : str or Path
        The output folder DIR (created if needed), outside ``input_folder``. See the module
        docstring for its files.
    features : dict or None
        ``{name: {parameter: value}}`` as made by :func:`parse_features`; None is raw pixels.
    size : tuple of (int, int) or None
        Resize every image to (rows, cols) while decoding. Without it the images must share
        the folder's most common shape (read from the headers); images of other shapes are
        failures, and a folder with no single most common shape is refused.
    chunk_size : int, default=256
        Files per chunk (the unit of work, of memory and of resumption).
    fit_sample : int, default=1000
        Files (evenly spaced) decoded to fit extractors that learn from the images.
    n_jobs : int or "auto", default=1
        Workers (-1: one per core), capped at the cores and at the chunks to do. "auto" runs
        in this process unless the work left after the first two chunks would take more than
        8 seconds there. The output does not depend on it.
    backend : {"loky", "threading", "dask"}, default="loky"
        See :func:`parallel_backend`. The output does not depend on it.
    scheduler : str or None
        A running dask scheduler's address, for ``backend="dask"``; DIR and the input folder
        must then be at the same paths on every worker (shared storage).
    overwrite : bool, default=False
        Replace a run made with other arguments in ``out``.
    progress : bool, default=False
        Show a tqdm progress bar (images/s) on stderr.
    max_pixels : int, default=4096*4096
        Larger images are failures, refused from their header at no memory cost.
    wait : bool, default=False
        When another job is writing ``out``, wait for it instead of raising.
    extractor_file : str, Path or None
        A fitted ``extractor.skops`` (written by an earlier extraction) to apply instead of
        fitting ``features``; images are decoded to its input shape (see
        :func:`apply_extractor`).
    on_event : callable or None
        Called as ``on_event(stage, index)`` at the points where a run may stop and resume:
        "plan" (the extractor is saved, the plan not yet), "chunk-temp" (chunk ``index`` is
        written, not yet renamed), "chunk-done", "assembly" (features.npy is complete, not
        yet renamed) and "manifest" (all but the manifest is written). For progress
        reporting, or for tests that stop a run at an exact point.

    Returns
    -------
    manifest : dict
        The content of ``manifest.json``, plus ``"resumed"`` (chunks found done on start) and
        ``"already_complete"``.

    Raises
    ------
    ValueError
        For a bad argument, an unknown feature, no decodable image, an output folder inside
        the input folder, or a DIR that holds a run with other arguments (unless
        ``overwrite``) or files that are not a run's.
    pipelines._runtime.FolderLockedError
        When another job is writing ``out`` (and ``wait`` is False).

    Examples
    --------
    >>> from pipelines.batch import extract_folder
    >>> manifest = extract_folder("photos", "photos-features",
    ...                           features={"hog": {}}, size=(64, 64))  # doctest: +SKIP
    >>> manifest["n_images"], manifest["failures"][:1]  # doctest: +SKIP
    (1204, [{'path': 'cat/broken.jpg', 'reason': 'not a decodable image'}])
    """
    started = time.perf_counter()
    for name, value in (("chunk_size", chunk_size), ("fit_sample", fit_sample)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    if n_jobs != "auto":
        worker_count(n_jobs)  # a bad value fails here, before any work
    check_backend(backend)  # as does an unknown backend, even for a job too small to use it
    limit = check_max_pixels(max_pixels)
    size = check_size(size, limit)
    root = Path(input_folder).resolve()
    if not root.is_dir():
        raise ValueError(f"Image folder {str(input_folder)!r} does not exist or is not a folder.")
    out = Path(out)
    _check_outside(out, root, input_folder)
    arguments = {"format": FORMAT, "input": str(root)}
    if extractor_file is None:
        features = {"pixels": {}} if features is None else features
        check_feature_spec(features)  # unknown names and parameters fail before touching DIR
        arguments.update(
            features=jsonable(features),
            size=None if size is None else list(size),
            fit_sample=int(fit_sample),
        )
        source = None
    else:
        if features is not None or size is not None:
            raise ValueError(
                "An extractor file fixes the features and the image size; give neither "
                "features nor size with it."
            )
        source = _read_extractor_file(extractor_file, limit)
        arguments["extractor_sha256"] = hashlib.sha256(source["data"]).hexdigest()
    arguments.update(chunk_size=int(chunk_size), max_pixels=limit)
    if out.exists() and not out.is_dir():
        raise ValueError(f"Output {str(out)!r} exists and is not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(
        root=root,
        out=out,
        arguments=arguments,
        features=features,
        size=size,
        source=source,
        n_jobs=n_jobs,
        backend=backend,
        scheduler=scheduler,
        progress=progress,
        started=started,
        on_event=on_event,
    )
    with locked_folder(out, wait=wait):
        return _run(overwrite=overwrite, **settings)


def apply_extractor(extractor_file, input_folder, out, **options):
    """Apply a fitted ``extractor.skops`` to a folder of new images; write what extraction does.

    The images are decoded as the extractor's training images were: to its input shape
    (resized by the library's one rule when their size differs, grey when it was grey). DIR
    receives the same files as :func:`extract_folder` (a copy of the extractor included), and
    an image gives the same row as the extraction that wrote the extractor gave it.

    Parameters
    ----------
    extractor_file : str or Path
        ``extractor.skops`` from an extraction's output folder.
    input_folder, out
        See :func:`extract_folder`.
    **options
        ``chunk_size``, ``n_jobs``, ``backend``, ``scheduler``, ``overwrite``, ``progress``,
        ``max_pixels``, ``wait``, ``on_event``: see :func:`extract_folder`.

    Returns
    -------
    manifest : dict

    Examples
    --------
    >>> from pipelines.batch import apply_extractor
    >>> apply_extractor("photos-hog/extractor.skops", "new-photos",
    ...                 "new-photos-hog")["n_images"]  # doctest: +SKIP
    120
    """
    return extract_folder(input_folder, out, extractor_file=extractor_file, **options)


def _run(*, root, out, arguments, features, size, source, overwrite, started, **options):
    timings = {}
    state = _open_dir(out, arguments, overwrite)
    listing = _list_input(root)
    changes, previous = None, None
    if state != "new":
        plan = json.loads((out / _RUN).read_text())
        if plan.get("listing_sha256") != listing["sha256"]:
            changes = _changes(plan, listing)
            if state == "complete":
                _keep_previous(out)
            _clear(out, keep=(_PREVIOUS,))  # a killed run on a changed folder left it, maybe
            previous = out / _PREVIOUS if (out / _PREVIOUS / _RUN).exists() else None
            state = "new"
        elif state == "complete":
            if _intact(out):
                return _already_complete(out)
            if not overwrite:
                raise ValueError(
                    f"{str(out / 'features.npy')!r} does not hold the rows its manifest "
                    "describes (changed or damaged since the run); use --overwrite to extract "
                    "again."
                )
            _clear(out)
            state = "new"

    tick = time.perf_counter()
    if state == "new":
        plan = _make_plan(out, arguments, listing, features, size, source, options["on_event"])
        plan["reuse"] = _reuse(plan, previous, out)
        write_atomic(out / _RUN, json.dumps(plan).encode())
    extractor = load_model(out / _EXTRACTOR, max_pixels=arguments["max_pixels"])["model"]
    timings["plan_seconds"] = time.perf_counter() - tick

    chunk_dir = out / CHUNKS
    chunk_dir.mkdir(exist_ok=True)
    for stale in [*chunk_dir.glob(".*.tmp"), *out.glob(".*.tmp")]:
        stale.unlink()  # the temporary file of a write whose run was killed
    files, chunk_size = plan["files"], arguments["chunk_size"]
    bounds = [(s, min(s + chunk_size, len(files))) for s in range(0, len(files), chunk_size)]
    done = {k for k in range(len(bounds)) if chunk_path(chunk_dir, k).exists()}
    todo = [k for k in range(len(bounds)) if k not in done]
    done_before = len(done)

    tick = time.perf_counter()
    assembler = Assembler(out, plan, len(bounds), n_features_of(extractor))
    assembler.advance(done)
    n_done = sum(b - a for k, (a, b) in enumerate(bounds) if k in done)
    bar = _progress_bar(len(files), n_done, options["progress"])
    job = {
        "root": str(root),
        "image_shape": tuple(plan["image_shape"]),
        "size": None if plan["size"] is None else tuple(plan["size"]),
        "grey": len(plan["image_shape"]) == 2,
        "max_pixels": arguments["max_pixels"],
        "chunk_dir": str(chunk_dir),
        "previous": str(out / _PREVIOUS / "features.npy") if plan["reuse"] else None,
    }
    reuse = {int(i): value for i, value in (plan["reuse"] or {}).items()}
    tasks = [
        (k, files[a:b], {i - a: reuse[i] for i in range(a, b) if i in reuse})
        for k in todo
        for a, b in [bounds[k]]
    ]
    failed, used = 0, {"workers": 1}
    try:
        for k, n_files, n_failed in _run_chunks(tasks, extractor, job, options, used):
            done.add(k)
            assembler.advance(done)  # copies in order while the workers go on
            failed += n_failed
            bar.set_postfix(failures=failed, refresh=False)
            bar.update(n_files)
        bar.close()
        timings["extract_seconds"] = time.perf_counter() - tick
        tick = time.perf_counter()
        manifest = assembler.finish(extractor, options["on_event"])
    except BaseException:  # Ctrl-C, a failure: the chunk files stay, the partial copy goes
        bar.close()
        assembler.path.unlink(missing_ok=True)
        raise
    timings["assemble_seconds"] = time.perf_counter() - tick
    timings["total_seconds"] = time.perf_counter() - started
    manifest["timings"].update(timings)
    manifest["run"] = {
        "n_jobs": options["n_jobs"],
        "workers": used["workers"] if tasks else 0,
        "backend": options["backend"],
        "scheduler": options["scheduler"],
        "chunks_done_before_start": done_before,
        "files_this_run": sum(len(names) - len(reused) for _, names, reused in tasks),
        "rows_reused": assembler.reused,
        "input_changes": changes,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if options["on_event"] is not None:
        options["on_event"]("manifest", 0)
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=1).encode())
    shutil.rmtree(chunk_dir, ignore_errors=True)
    shutil.rmtree(out / _PREVIOUS, ignore_errors=True)
    return {**manifest, "resumed": done_before, "already_complete": False}


def _run_chunks(tasks, extractor, job, options, used):
    """Yield (chunk, files, failures) as chunks finish, in this process or in workers.

    ``used["workers"]`` is set to the number of workers the chunks ran on.
    """
    n_jobs, backend = options["n_jobs"], options["backend"]
    if not tasks:
        return
    if n_jobs == "auto" and backend != "dask":
        # Two chunks here: the first pays for warming up (the numba kernels' cache, the
        # files' first read), the second tells what each of the others would cost.
        for task in tasks[:2]:
            start = time.perf_counter()
            yield _extract_chunk(*task, extractor, job, options["on_event"])
        tasks = tasks[2:]
        left = (time.perf_counter() - start) * len(tasks)
        workers = worker_count(-1, len(tasks)) if left > _PARALLEL_SECONDS else 1
    elif backend == "dask":
        workers = -1 if n_jobs == "auto" else n_jobs
    else:
        workers = worker_count(n_jobs, len(tasks))
    if workers == 1:
        for task in tasks:
            yield _extract_chunk(*task, extractor, job, options["on_event"])
        return
    with parallel_backend(backend, workers, scheduler=options["scheduler"]) as jobs:
        used["workers"] = jobs
        results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
            delayed(_extract_chunk)(*task, extractor, job, options["on_event"]) for task in tasks
        )
        yield from results


def _intact(out):
    """Whether DIR's features.npy holds the rows its manifest's hash describes."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        shape = (manifest["n_images"], manifest["n_features"])
        return rows_sha256(out / "features.npy", shape) == manifest["rows_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _already_complete(out):
    manifest = json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out / CHUNKS, ignore_errors=True)
    return {**manifest, "resumed": None, "already_complete": True}


def summary_line(manifest):
    """The one-line summary printed at the end of an extraction.

    Examples
    --------
    >>> from pipelines.batch import summary_line
    >>> summary_line({"n_images": 10, "n_failures": 1, "n_features": 64,
    ...               "timings": {"total_seconds": 2.0}, "already_complete": False})
    '10 images, 1 failures, 64 features in 2.0 s (5 images/s)'
    """
    head = (
        f"{manifest['n_images']} images, {manifest['n_failures']} failures, "
        f"{manifest['n_features']} features"
    )
    if manifest.get("already_complete"):
        return f"{head}: already complete, nothing to do"
    seconds = manifest["timings"].get("total_seconds", 0.0)
    run = manifest.get("run", {})
    changes = run.get("input_changes")
    if changes:
        files = run["files_this_run"]
        return (
            f"{head} in {seconds:.1f} s (the input folder changed since the last run: "
            f"{changes['added']} added, {changes['removed']} removed, {changes['changed']} "
            f"changed; {files} files read, {run['rows_reused']} rows reused)"
        )
    if not run.get("chunks_done_before_start"):
        rate = manifest["n_images"] / max(seconds, 1e-9)
        return f"{head} in {seconds:.1f} s ({rate:.0f} images/s)"
    files = run["files_this_run"]
    rate = files / max(seconds, 1e-9)
    return f"{head} in {seconds:.1f} s (resumed: {files} files read in this run, {rate:.0f}/s)"


# -- phase 1: plan ----------------------------------------------------------------------------
def _check_outside(out, root, given):
    """Refuse an output folder inside the input folder: its files would be listed as images."""
    target = out.resolve()
    if target == root or root in target.parents:
        raise ValueError(
            f"Output folder {str(out)!r} is inside the input folder {str(given)!r}, where it "
            "would be read as images (or a class); choose a folder outside it."
        )


def _read_extractor_file(path, limit):
    """The bytes and content of a fitted extractor file, checked for applying to images."""
    from sklearn.pipeline import FeatureUnion

    path = Path(path)
    try:
        data = path.read_bytes() if path.is_file() else None
    except OSError as exc:
        raise ValueError(f"Cannot read extractor file {str(path)!r}: {exc.strerror}.") from None
    if data is None:
        raise ValueError(f"Extractor file {str(path)!r} does not exist or is not a file.")
    content = loads_model(data, name=str(path), max_pixels=limit)
    model = content["model"]
    if hasattr(model, "predict") or not isinstance(model, FeatureUnion):
        raise ValueError(
            f"{str(path)!r} holds a {type(model).__name__}, not a feature extractor written "
            "by an extraction (its extractor.skops); to classify images use predict."
        )
    if (
        content["input_shape"] is None
        or len(content["input_shape"]) == 3
        and (content["input_shape"][2] != 3)
    ):
        raise ValueError(
            f"{str(path)!r} does not say the shape of its images (input_shape); it was not "
            "written by an extraction."
        )
    if not all(hasattr(step, "n_features_out_") for _, step in model.transformer_list):
        raise ValueError(f"{str(path)!r} holds an extractor that was never fitted.")
    return {"data": data, "input_shape": list(content["input_shape"])}


def _open_dir(out, arguments, overwrite):
    """ "new", "resume" or "complete"; clears DIR for a new run when that is allowed."""
    run_file = out / _RUN
    stored = None
    if run_file.exists():
        try:
            stored = json.loads(run_file.read_text())["arguments"]
        except (ValueError, KeyError, TypeError):
            stored = {}  # not a run file of ours: replaced only with overwrite
    if stored is not None:
        if stored == arguments:
            return "complete" if (out / "manifest.json").exists() else "resume"
        if not overwrite:
            keys = list(arguments) + [key for key in stored if key not in arguments]
            changed = "; ".join(
                f"{key}: {stored.get(key)!r} then, {arguments.get(key)!r} now"
                for key in keys
                if stored.get(key) != arguments.get(key)
            )
            raise ValueError(
                f"{str(out)!r} holds features extracted with other arguments ({changed}); "
                "use --overwrite to replace them, or choose another output folder."
            )
    else:
        foreign = sorted(p.name for p in out.iterdir() if not _is_own(p.name))
        if foreign and not overwrite:
            raise ValueError(
                f"{str(out)!r} is not empty and holds no extraction run "
                f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
                "use --overwrite to write into it anyway, or choose an empty folder."
            )
    _clear(out)
    return "new"


def _clear(out, keep=()):
    """Remove our own files from DIR but ``keep`` (never anything else, never the lock)."""
    for path in out.iterdir():
        if _is_own(path.name) and path.name not in (LOCK_NAME, *keep):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def _is_own(name):
    """A file the job writes in DIR (temporary files are ``.<name>.<pid>-<thread>.tmp``)."""
    return name in _OWN_NAMES or (name.startswith(".") and name.endswith(".tmp"))


def _list_input(root):
    """The input folder as it is now: files, labels, listing failures, sizes and times."""
    paths, labels, class_names, failures = list_image_files(root)
    stats = []
    for path in paths:
        try:
            info = os.stat(path)
            stats.append([info.st_size, info.st_mtime_ns])
        except OSError:
            stats.append(None)  # gone since it was listed: its chunk says why
    listing = {
        "files": _relative(paths, root),
        "labels": None if labels is None else labels.tolist(),
        "class_names": class_names if labels is not None else None,
        "stray": [
            [name, reason]
            for name, (_, reason) in zip(
                _relative([p for p, _ in failures], root), failures, strict=True
            )
        ],
        "stats": stats,
    }
    digest = hashlib.sha256(json.dumps(listing, sort_keys=True).encode())
    return {**listing, "sha256": digest.hexdigest(), "paths": paths}


def _changes(plan, listing):
    """How many files were added, removed and changed since ``plan`` was made."""
    before = dict(zip(plan["files"], map(_stat_key, plan.get("stats") or []), strict=False))
    now = dict(zip(listing["files"], map(_stat_key, listing["stats"]), strict=True))
    return {
        "added": sum(name not in before for name in now),
        "removed": sum(name not in now for name in before),
        "changed": sum(name in before and before[name] != now[name] for name in now),
    }


def _stat_key(stat):
    return None if stat is None else tuple(stat)


def _keep_previous(out):
    """Move the last complete result into DIR/previous/, for its rows to be reused."""
    previous = out / _PREVIOUS
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir()
    for name in ("features.npy", PATHS, "manifest.json", _RUN):
        if (out / name).exists():
            os.replace(out / name, previous / name)
    return previous


def _reuse(plan, previous, out):
    """{file index: ["row", r] or ["failure", reason]} of unchanged files whose previous
    result is valid now; None when nothing can be reused."""
    if previous is None or not (previous / _RUN).exists():
        return None
    try:
        old_plan = json.loads((previous / _RUN).read_text())
        old_manifest = json.loads((previous / "manifest.json").read_text())
        old_rows = {name: r for r, name in enumerate(read_paths(previous))}
        extractor = load_model(out / _EXTRACTOR)["model"]
    except (OSError, ValueError, KeyError):
        return None  # an incomplete previous result: extract everything
    same_extraction = (
        old_plan["image_shape"] == plan["image_shape"]
        and old_plan["arguments"] == plan["arguments"]
        and all(type(step).__name__ in _EXACT for _, step in extractor.transformer_list)
    )
    if not same_extraction:
        return None
    stray = {name for name, _ in old_plan["stray"]}
    old_failures = {
        f["path"]: f["reason"] for f in old_manifest["failures"] if f["path"] not in stray
    }
    old_stats = dict(zip(old_plan["files"], map(_stat_key, old_plan["stats"]), strict=True))
    reuse = {}
    for i, (name, stat) in enumerate(zip(plan["files"], plan["stats"], strict=True)):
        if stat is None or old_stats.get(name) != tuple(stat):
            continue
        if name in old_rows:
            reuse[i] = ["row", old_rows[name]]
        elif name in old_failures:
            reuse[i] = ["failure", old_failures[name]]
    return reuse or None


def _make_plan(out, arguments, listing, features, size, source, on_event):
    paths = listing["paths"]
    if source is not None:  # apply a fitted extractor: its shape decides how to decode
        write_atomic(out / _EXTRACTOR, source["data"])
        image_shape = source["input_shape"]
        size = tuple(image_shape[:2])
    else:
        common = None if size is not None else _common_shape(paths, arguments)
        extractor, image_shape = _fit_extractor(
            paths, features, size, common, arguments["fit_sample"], arguments["max_pixels"]
        )
        # input_shape: how new images must be decoded to be transformed the same way
        save_model(extractor, out / _EXTRACTOR, input_shape=image_shape)
    if on_event is not None:
        on_event("plan", 0)
    return {
        "arguments": arguments,
        "files": listing["files"],
        "labels": listing["labels"],
        "class_names": listing["class_names"],
        "stray": listing["stray"],
        "stats": listing["stats"],
        "listing_sha256": listing["sha256"],
        "image_shape": list(image_shape),
        "size": None if size is None else list(size),
    }


def _relative(paths, root):
    prefix = os.path.join(str(root), "")
    return [p[len(prefix) :] if p.startswith(prefix) else os.path.relpath(p, root) for p in paths]


def _common_shape(paths, arguments):
    """The most common (rows, cols) of the files, from their headers; refuse a tie."""
    shapes = image_shapes(paths, max_pixels=arguments["max_pixels"], n_jobs=-1)
    counts = Counter(shape for shape in shapes if shape is not None).most_common(2)
    if not counts:
        raise ValueError(_none_decoded(paths, arguments["max_pixels"]))
    if len(counts) == 2 and counts[0][1] == counts[1][1]:
        (a, n), (b, _) = counts
        raise ValueError(
            f"The images of {arguments['input']!r} have no single most common size "
            f"({a[0]}x{a[1]} and {b[0]}x{b[1]}: {n} images each, and maybe others); "
            "give --size ROWS,COLS to resize every image to one size."
        )
    return counts[0][0]


def _none_decoded(paths, max_pixels):
    try:
        decode_image(paths[0], max_pixels=max_pixels)
        first = "its size differs from the others'"
    except DecodeError as exc:
        first = str(exc)
    name = os.path.basename(paths[0])
    return f"None of the {len(paths)} image files could be decoded (the first, {name}: {first})."


def _fit_extractor(paths, features, size, common, fit_sample, max_pixels):
    """Fit the extractors; return them and the shape every image must have."""
    extractor = build_extractor(features)
    learns = learns_from_images(extractor)

    def usable(image):
        return image is not None and (size is not None or image.shape[:2] == common)

    good = []
    if learns:
        index = np.unique(np.linspace(0, len(paths) - 1, min(fit_sample, len(paths))).astype(int))
        decoded, _ = decode_images(
            [paths[i] for i in index], size=size, max_pixels=max_pixels, n_jobs=-1
        )
        good = [image for image in decoded if usable(image)]
    if not good:  # the first good image fixes the shape (and fits extractors that learn nothing)
        for path in paths:
            try:
                image = decode_image(path, size=size, max_pixels=max_pixels)
            except DecodeError:
                continue
            if usable(image):
                good = [image]
                break
    if not good:
        raise ValueError(_none_decoded(paths, max_pixels))
    images = np.stack(good)
    extractor.fit(images if learns else images[:1])
    return extractor, images.shape[1:]


# -- phase 2: chunks --------------------------------------------------------------------------
def _extract_chunk(index, files, reused, extractor, job, on_event):
    """Decode and extract one chunk of files; write its rows and failures atomically.

    ``reused`` maps positions in ``files`` to their previous result (["row", r] of
    ``job["previous"]``, or ["failure", reason]); only the other files are decoded.
    Returns (index, number of files, number of failures).
    """
    start, cpu_start = time.perf_counter(), time.thread_time()
    images, kept, failures, sources = [], [], [], []
    for i, name in enumerate(files):
        if i in reused:
            kind, value = reused[i]
            if kind == "failure":
                failures.append([name, value])
            else:
                kept.append(i)
                sources.append(("old", value))
            continue
        try:
            image = decode_image(
                os.path.join(job["root"], name),
                grey=job["grey"],
                size=job["size"],
                max_pixels=job["max_pixels"],
            )
        except DecodeError as exc:
            failures.append([name, str(exc)])
            continue
        if image.shape != job["image_shape"]:
            reason = (
                f"image of shape {image.shape} differs from the common shape "
                f"{job['image_shape']} of the folder's images; give a size (--size) to "
                "resize every image"
            )
            failures.append([name, reason])
            continue
        kept.append(i)
        sources.append(("new", len(images)))
        images.append(image)
    rows = np.empty((len(kept), n_features_of(extractor)), dtype=np.float32)
    if images:
        new = extractor.transform(np.stack(images))
        rows[[j for j, (kind, _) in enumerate(sources) if kind == "new"]] = new
    old = [(j, r) for j, (kind, r) in enumerate(sources) if kind == "old"]
    if old:
        previous = np.load(job["previous"], mmap_mode="r")
        rows[[j for j, _ in old]] = previous[[r for _, r in old]]
        del previous
    path = chunk_path(job["chunk_dir"], index)
    with atomic_target(path) as temp, open(temp, "wb") as f:
        np.savez(
            f,
            features=rows,
            kept=np.asarray(kept, dtype=np.int64),
            failures=np.asarray(json.dumps(failures)),
            seconds=np.float64(time.perf_counter() - start),
            cpu_seconds=np.float64(time.thread_time() - cpu_start),
            reused=np.int64(len(old)),
        )
        f.flush()
        if on_event is not None:
            on_event("chunk-temp", index)
    if on_event is not None:
        on_event("chunk-done", index)
    return index, len(files), len(failures)


def _progress_bar(total, initial, enabled):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="img",
        unit_scale=True,
        smoothing=0.1,
        disable=not enabled,
        desc="extracting",
    )
