"""Batch feature extraction: a folder of image files to ``features.npy`` and a manifest.

The job runs in three phases, each of which leaves DIR in a state a restart can continue from:

1. **Plan.** List the files (sorted, as :func:`pipelines.datasets.list_image_files` does), fit
   the extractors (on the first good image, or on an evenly spaced sample of ``fit_sample``
   files for extractors that learn, such as the bag of visual words), and fix the chunk
   boundaries by *file*: chunk ``k`` holds files ``k * chunk_size`` to
   ``(k + 1) * chunk_size``. The fitted extractor goes to ``extractor.skops`` and the plan
   (arguments, file list, labels) to ``run.json``, each written to a temporary name and
   renamed into place, so a file that exists is complete.
2. **Chunks.** A worker (joblib: ``loky``, ``threading`` or ``dask``) decodes the files of one
   chunk, extracts the features of those that decoded, and writes
   ``chunks/chunk-<k>.npz`` (the rows, the indices of the files they came from and the
   failures with their reasons) atomically in the same way. A chunk is done exactly when its
   file exists; a restart runs only the chunks that have none.
3. **Assembly** (:mod:`pipelines._assembly`). A file that fails to decode has no row, so the
   final row of a chunk is known only once every chunk before it is done. The parent process
   copies each chunk into ``.features.npy.tmp`` as soon as the chunks before it are done
   (while the workers go on),
   through a memory map of just that chunk's rows, so memory stays bounded by one chunk; the
   ``.npy`` header is written once the row count is known. Then the file is renamed to
   ``features.npy`` and ``labels.npy``, ``class_names.txt``, ``paths.txt`` and, last,
   ``manifest.json`` follow; the manifest marks the job as complete, after which the chunk
   files are removed.

A run killed at any moment (even with SIGKILL) and started again with the same arguments
continues where it stopped and writes the same bytes as an uninterrupted run; the output does
not depend on ``n_jobs`` or the backend either, as every chunk is computed by the same function
on the same files. Different arguments into a DIR that holds a run are refused unless
``overwrite=True``.
"""

import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ._assembly import CHUNKS, FORMAT, Assembler, chunk_path, n_features_of
from ._runtime import atomic_target, jsonable, parallel_backend, write_atomic
from .datasets import DecodeError, decode_image, decode_images, list_image_files
from .model_files import load_model, save_model
from .registry import build_extractor, check_feature_spec, learns_from_images

_RUN = "run.json"
_EXTRACTOR = "extractor.skops"
_OUTPUTS = ("features.npy", "labels.npy", "class_names.txt", "paths.txt", "manifest.json")
_OWN_NAMES = {_RUN, _EXTRACTOR, CHUNKS, *_OUTPUTS}


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
    on_event=None,
):
    """Extract the features of every image file of a folder into ``out``; resumable.

    Parameters
    ----------
    input_folder : str or Path
        ``root/<class>/<image>`` (labelled) or a flat folder of images (no labels).
    out : str or Path
        The output folder DIR (created if needed). See the module docstring for its files.
    features : dict or None
        ``{name: {parameter: value}}`` as made by :func:`parse_features`; None is raw pixels.
    size : tuple of (int, int) or None
        Resize every image to (rows, cols) while decoding. Without it every image must have
        the shape of the first one; an image of another shape is a failure.
    chunk_size : int, default=256
        Files per chunk (the unit of work, of memory and of resumption).
    fit_sample : int, default=1000
        Files (evenly spaced) decoded to fit extractors that learn from the images.
    n_jobs : int, default=1
        Workers (-1: one per core). The output does not depend on it.
    backend : {"loky", "threading", "dask"}, default="loky"
        See :func:`parallel_backend`. The output does not depend on it.
    scheduler : str or None
        A running dask scheduler's address, for ``backend="dask"``; DIR and the input folder
        must then be at the same paths on every worker (shared storage).
    overwrite : bool, default=False
        Replace a run made with other arguments in ``out``.
    progress : bool, default=False
        Show a tqdm progress bar (images/s) on stderr.
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
        For a bad argument, an unknown feature, no decodable image, or a DIR that holds a run
        with other arguments (unless ``overwrite``) or files that are not a run's.

    Examples
    --------
    >>> from pipelines.batch import extract_folder
    >>> manifest = extract_folder("photos", "photos-features",
    ...                           features={"hog": {}}, size=(64, 64))  # doctest: +SKIP
    >>> manifest["n_images"], manifest["failures"][:1]  # doctest: +SKIP
    (1204, [{'path': 'cat/broken.jpg', 'reason': 'not a decodable image'}])
    """
    started = time.perf_counter()
    timings = {}
    features = {"pixels": {}} if features is None else features
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}.")
    if not isinstance(fit_sample, int) or fit_sample < 1:
        raise ValueError(f"fit_sample must be a positive int; got {fit_sample!r}.")
    size = None if size is None else (int(size[0]), int(size[1]))
    root = Path(input_folder).resolve()
    if not root.is_dir():
        raise ValueError(f"Image folder {str(input_folder)!r} does not exist or is not a folder.")
    out = Path(out)
    arguments = {
        "format": FORMAT,
        "input": str(root),
        "features": jsonable(features),
        "size": None if size is None else list(size),
        "chunk_size": chunk_size,
        "fit_sample": fit_sample,
    }
    check_feature_spec(features)  # unknown names and parameters fail before touching DIR
    state = _open_dir(out, arguments, overwrite)
    if state == "complete":
        manifest = json.loads((out / "manifest.json").read_text())
        shutil.rmtree(out / CHUNKS, ignore_errors=True)
        return {**manifest, "resumed": None, "already_complete": True}

    tick = time.perf_counter()
    if state == "new":
        plan = _make_plan(root, out, arguments, features, size, on_event)
    else:
        plan = json.loads((out / _RUN).read_text())
    extractor = load_model(out / _EXTRACTOR)["model"]
    timings["plan_seconds"] = time.perf_counter() - tick

    chunk_dir = out / CHUNKS
    chunk_dir.mkdir(exist_ok=True)
    for stale in [*chunk_dir.glob(".*.tmp"), *out.glob(".*.tmp")]:
        stale.unlink()  # the temporary file of a write whose run was killed
    files = plan["files"]
    bounds = [(s, min(s + chunk_size, len(files))) for s in range(0, len(files), chunk_size)]
    done = {k for k in range(len(bounds)) if chunk_path(chunk_dir, k).exists()}
    todo = [k for k in range(len(bounds)) if k not in done]
    done_before = len(done)

    tick = time.perf_counter()
    image_shape = tuple(plan["image_shape"])
    assembler = Assembler(out, plan, len(bounds), n_features_of(extractor))
    assembler.advance(done)
    bar = _progress_bar(
        len(files), sum(b - a for k, (a, b) in enumerate(bounds) if k in done), progress
    )
    with parallel_backend(backend, n_jobs, scheduler=scheduler) as jobs:
        tasks = (
            delayed(_extract_chunk)(
                k, str(root), files[a:b], extractor, image_shape, size, str(chunk_dir), on_event
            )
            for k in todo
            for a, b in [bounds[k]]
        )
        failed = 0
        results = Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks)
        for k, n_files, n_failed in results:
            done.add(k)
            assembler.advance(done)  # copies in order while the workers go on
            failed += n_failed
            bar.set_postfix(failures=failed, refresh=False)
            bar.update(n_files)
    bar.close()
    timings["extract_seconds"] = time.perf_counter() - tick

    tick = time.perf_counter()
    manifest = assembler.finish(extractor, on_event)
    timings["assemble_seconds"] = time.perf_counter() - tick
    timings["total_seconds"] = time.perf_counter() - started
    manifest["timings"].update(timings)
    manifest["run"] = {
        "n_jobs": n_jobs,
        "backend": backend,
        "scheduler": scheduler,
        "chunks_done_before_start": done_before,
        "files_this_run": sum(bounds[k][1] - bounds[k][0] for k in todo),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if on_event is not None:
        on_event("manifest", 0)
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=1).encode())
    shutil.rmtree(chunk_dir, ignore_errors=True)
    return {**manifest, "resumed": done_before, "already_complete": False}


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
    if not run.get("chunks_done_before_start"):
        rate = manifest["n_images"] / max(seconds, 1e-9)
        return f"{head} in {seconds:.1f} s ({rate:.0f} images/s)"
    files = run["files_this_run"]
    rate = files / max(seconds, 1e-9)
    return f"{head} in {seconds:.1f} s (resumed: {files} files read in this run, {rate:.0f}/s)"


# -- phase 1: plan ----------------------------------------------------------------------------
def _open_dir(out, arguments, overwrite):
    """ "new", "resume" or "complete"; clears DIR for a new run when that is allowed."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"Output {str(out)!r} exists and is not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / _RUN
    if run_file.exists():
        stored = json.loads(run_file.read_text())["arguments"]
        if stored == arguments:
            return "complete" if (out / "manifest.json").exists() else "resume"
        if not overwrite:
            changed = "; ".join(
                f"{key}: {stored.get(key)!r} then, {arguments.get(key)!r} now"
                for key in arguments
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
    for path in out.iterdir():  # our own files only: never anything else in DIR
        if _is_own(path.name):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    return "new"


def _is_own(name):
    """A file the job writes in DIR (temporary files are ``.<name>.<pid>-<thread>.tmp``)."""
    return name in _OWN_NAMES or (name.startswith(".") and name.endswith(".tmp"))


def _make_plan(root, out, arguments, features, size, on_event):
    paths, labels, class_names, stray = list_image_files(root)
    extractor, image_shape = _fit_extractor(paths, features, size, arguments["fit_sample"])
    # input_shape: how new images must be decoded to be transformed the same way (the service)
    save_model(extractor, out / _EXTRACTOR, input_shape=image_shape)
    if on_event is not None:
        on_event("plan", 0)
    plan = {
        "arguments": arguments,
        "files": _relative(paths, root),
        "labels": None if labels is None else labels.tolist(),
        "class_names": class_names if labels is not None else None,
        "stray": [
            [name, reason]
            for name, (_, reason) in zip(_relative([p for p, _ in stray], root), stray, strict=True)
        ],
        "image_shape": list(image_shape),
    }
    write_atomic(out / _RUN, json.dumps(plan).encode())
    return plan


def _relative(paths, root):
    prefix = os.path.join(str(root), "")
    return [p[len(prefix) :] if p.startswith(prefix) else os.path.relpath(p, root) for p in paths]


def _fit_extractor(paths, features, size, fit_sample):
    """Fit the extractors; return them and the shape every image must have."""
    extractor = build_extractor(features)
    learns = learns_from_images(extractor)
    good = []
    if learns:
        index = np.unique(np.linspace(0, len(paths) - 1, min(fit_sample, len(paths))).astype(int))
        decoded, _ = decode_images([paths[i] for i in index], size=size, n_jobs=-1)
        good = [image for image in decoded if image is not None]
    if not good:  # the first good image fixes the shape (and fits extractors that learn nothing)
        for path in paths:
            try:
                good = [decode_image(path, size=size)]
                break
            except DecodeError:
                continue
    if not good:
        raise ValueError(f"None of the {len(paths)} image files could be decoded.")
    shape = good[0].shape
    images = np.stack([image for image in good if image.shape == shape])
    extractor.fit(images if learns else images[:1])
    return extractor, shape


# -- phase 2: chunks --------------------------------------------------------------------------
def _extract_chunk(index, root, files, extractor, image_shape, size, chunk_dir, on_event):
    """Decode and extract one chunk of files; write its rows and failures atomically.

    Returns (index, number of files, number of failures).
    """
    start, cpu_start = time.perf_counter(), time.thread_time()
    images, kept, failures = [], [], []
    for i, name in enumerate(files):
        try:
            image = decode_image(os.path.join(root, name), size=size)
        except DecodeError as exc:
            failures.append([name, str(exc)])
            continue
        if image.shape != image_shape:
            reason = (
                f"image of shape {image.shape} differs from the first image's {image_shape}; "
                "give a size (--size) to resize every image"
            )
            failures.append([name, reason])
            continue
        images.append(image)
        kept.append(i)
    n_features = n_features_of(extractor)
    rows = (
        extractor.transform(np.stack(images)).astype(np.float32, copy=False)
        if images
        else np.empty((0, n_features), dtype=np.float32)
    )
    path = chunk_path(chunk_dir, index)
    with atomic_target(path) as temp, open(temp, "wb") as f:
        np.savez(
            f,
            features=rows,
            kept=np.asarray(kept, dtype=np.int64),
            failures=np.asarray(json.dumps(failures)),
            seconds=np.float64(time.perf_counter() - start),
            cpu_seconds=np.float64(time.thread_time() - cpu_start),
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
