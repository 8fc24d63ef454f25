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
3. **Assembly.** A file that fails to decode has no row, so the final row of a chunk is known
   only once every chunk before it is done. The parent process copies each chunk into
   ``.features.npy.tmp`` as soon as the chunks before it are done (while the workers go on),
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

import hashlib
import importlib
import json
import os
import platform
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import cv2
import joblib
import numpy as np
from joblib import Parallel, delayed, parallel_config
from sklearn.pipeline import FeatureUnion

from .datasets import decode_image, decode_images, list_image_files
from .model_files import load_model, save_model

# Feature names of the command line -> (module of the ``features`` package, class, whether
# fitting learns from the images: those are fitted on a sample, the others on one image).
FEATURES = {
    "pixels": ("raw", "RawPixels", False),
    "hog": ("hog", "HOG", False),
    "color": ("color", "ColorHistogram", False),
    "bovw": ("bovw", "BagOfVisualWords", True),
}
BACKENDS = ("loky", "threading", "dask")
HOLD_VARIABLE = "VISIONFEATURES_BATCH_HOLD"

_FORMAT = "visionfeatures-batch/1"
_RUN = "run.json"
_EXTRACTOR = "extractor.skops"
_CHUNKS = "chunks"
_OUTPUTS = ("features.npy", "labels.npy", "class_names.txt", "paths.txt", "manifest.json")
_OWN_NAMES = {_RUN, _EXTRACTOR, _CHUNKS, ".hold", *_OUTPUTS}


# -- feature specification --------------------------------------------------------------------
def feature_class(name):
    """The extractor class behind a feature name of the command line.

    Parameters
    ----------
    name : str
        One of :data:`FEATURES` ("pixels", "hog", "color", "bovw").

    Returns
    -------
    cls : type
        The class, found in the ``features`` package.

    Raises
    ------
    ValueError
        For an unknown name, or one whose extractor is not in this installation; the message
        lists the names that are available.

    Examples
    --------
    >>> from pipelines.batch import feature_class
    >>> feature_class("pixels").__name__
    'RawPixels'
    """
    cls = _find_feature_class(name) if name in FEATURES else None
    if cls is None:
        raise ValueError(f"Unknown feature {name!r}; available: {', '.join(available_features())}.")
    return cls


def available_features():
    """The feature names whose extractor exists in the ``features`` package.

    Examples
    --------
    >>> from pipelines.batch import available_features
    >>> "pixels" in available_features()
    True
    """
    return [name for name in FEATURES if _find_feature_class(name) is not None]


def _find_feature_class(name):
    module_name, class_name, _ = FEATURES[name]
    package = importlib.import_module("features")
    cls = getattr(package, class_name, None)
    if cls is None:
        try:
            cls = getattr(importlib.import_module(f"features.{module_name}"), class_name, None)
        except ImportError:
            return None
    return cls


def parse_value(text):
    """Parse the value of a ``--param name.key=value`` option.

    JSON first (numbers, ``true``, ``null``, lists), then ``none``; a comma-separated list
    becomes a tuple of parsed values; anything else stays a string.

    Examples
    --------
    >>> from pipelines.batch import parse_value
    >>> parse_value("4,4"), parse_value("1e-3"), parse_value("true"), parse_value("hsv")
    ((4, 4), 0.001, True, 'hsv')
    """
    text = text.strip()
    if "," in text and not text.startswith(("[", "{", '"')):
        return tuple(parse_value(part) for part in text.split(","))
    if text.lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_features(names, params=(), config=None):
    """Build the feature specification ``{name: {parameter: value}}`` from command-line input.

    Parameters
    ----------
    names : str or list of str or None
        Feature names, e.g. "hog,color"; None takes the names of ``config`` (or "pixels").
    params : list of str
        ``name.key=value`` settings, e.g. "hog.pixels_per_cell=4,4"; they override ``config``.
    config : dict or None
        ``{name: {key: value}}``, as read from a JSON or YAML file.

    Returns
    -------
    spec : dict
        Feature name to parameters, in the order given; lists become tuples.

    Raises
    ------
    ValueError
        For a malformed setting, a setting of a feature that is not chosen, an unknown feature
        or an unknown parameter.

    Examples
    --------
    >>> from pipelines.batch import parse_features
    >>> parse_features("pixels", ["pixels.grayscale=true"])
    {'pixels': {'grayscale': True}}
    """
    config = dict(config or {})
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        names = list(config) or ["pixels"]
    spec = {}
    for name in names:
        settings = config.get(name) or {}
        if not isinstance(settings, dict):
            raise ValueError(
                f"The settings of feature {name!r} must be a mapping of parameters; "
                f"got {settings!r}."
            )
        spec[name] = {key: _tuples(value) for key, value in settings.items()}
    for item in params:
        target, sep, value = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise ValueError(f"Expected a setting NAME.PARAMETER=VALUE; got {item!r}.")
        if name not in spec:
            raise ValueError(
                f"Setting {item!r} is for feature {name!r}, which is not among the chosen "
                f"features ({', '.join(spec)})."
            )
        spec[name][key] = _tuples(parse_value(value))
    for name, settings in spec.items():
        valid = feature_class(name)().get_params(deep=False)
        unknown = sorted(set(settings) - set(valid))
        if unknown:
            raise ValueError(
                f"Unknown parameter(s) {', '.join(unknown)} of feature {name!r} "
                f"({feature_class(name).__name__}); valid: {', '.join(sorted(valid))}."
            )
    return spec


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def build_extractor(spec, *, random_state=0):
    """An unfitted :class:`~sklearn.pipeline.FeatureUnion` of the extractors in ``spec``.

    Extractors with a ``random_state`` left unset get ``random_state``, so that a run can be
    repeated exactly. A string given for a parameter whose default is a type (``dtype``) is
    read as a NumPy dtype name.

    Examples
    --------
    >>> from pipelines.batch import build_extractor
    >>> build_extractor({"pixels": {"grayscale": True}}).transformer_list[0][0]
    'pixels'
    """
    steps = []
    for name, settings in spec.items():
        cls = feature_class(name)
        defaults = cls().get_params(deep=False)
        params = dict(settings)
        for key, value in params.items():
            if isinstance(defaults.get(key), type) and isinstance(value, str):
                params[key] = np.dtype(value).type
        if "random_state" in defaults and params.get("random_state") is None:
            params["random_state"] = random_state
        steps.append((name, cls(**params)))
    return FeatureUnion(steps)


# -- parallel backends ------------------------------------------------------------------------
@contextmanager
def parallel_backend(backend="loky", n_jobs=1, *, scheduler=None, scatter=None):
    """Run the joblib calls inside on ``backend``; yield the ``n_jobs`` to give them.

    Parameters
    ----------
    backend : {"loky", "threading", "dask"}
        "dask" connects to the scheduler at ``scheduler`` or, without one, starts a local
        cluster of ``n_jobs`` single-threaded worker processes (all cores for -1) and closes
        it on exit; it needs ``dask[distributed]``.
    n_jobs : int
        Workers for loky and threading (joblib's convention: -1 is all cores).
    scheduler : str or None
        Address of a running dask scheduler, such as "tcp://10.0.0.5:8786".
    scatter : list or None
        Objects sent once to every dask worker (joblib's ``scatter``), such as ``[X, y]``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}.")
    if backend != "dask":
        if scheduler is not None:
            raise ValueError("A scheduler address is only used with backend 'dask'.")
        with parallel_config(backend=backend):
            yield n_jobs
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "The dask backend needs dask[distributed]: pip install 'visionfeatures[distributed]'."
        ) from None
    if scheduler is not None:
        client, cluster = Client(scheduler), None
    else:
        workers = joblib.cpu_count() if n_jobs is None or n_jobs < 0 else n_jobs
        cluster = LocalCluster(
            n_workers=max(1, workers),
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        with parallel_config(backend="dask", scatter=scatter):
            yield -1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


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
        "format": _FORMAT,
        "input": str(root),
        "features": _jsonable(features),
        "size": None if size is None else list(size),
        "chunk_size": chunk_size,
        "fit_sample": fit_sample,
    }
    build_extractor(features)  # unknown names and parameters fail before touching DIR
    state = _open_dir(out, arguments, overwrite)
    if state == "complete":
        manifest = json.loads((out / "manifest.json").read_text())
        shutil.rmtree(out / _CHUNKS, ignore_errors=True)
        return {**manifest, "resumed": None, "already_complete": True}

    tick = time.perf_counter()
    if state == "new":
        plan = _make_plan(root, out, arguments, features, size)
    else:
        plan = json.loads((out / _RUN).read_text())
    extractor = load_model(out / _EXTRACTOR)["model"]
    timings["plan_seconds"] = time.perf_counter() - tick

    chunk_dir = out / _CHUNKS
    chunk_dir.mkdir(exist_ok=True)
    for stale in [*chunk_dir.glob(".*.tmp"), *out.glob(".*.tmp")]:
        stale.unlink()  # the temporary file of a write whose run was killed
    files = plan["files"]
    bounds = [(s, min(s + chunk_size, len(files))) for s in range(0, len(files), chunk_size)]
    done = {k for k in range(len(bounds)) if _chunk_path(chunk_dir, k).exists()}
    todo = [k for k in range(len(bounds)) if k not in done]
    done_before = len(done)

    tick = time.perf_counter()
    image_shape = tuple(plan["image_shape"])
    assembler = _Assembler(out, plan, len(bounds), _n_features(extractor))
    assembler.advance(done)
    bar = _progress_bar(
        len(files), sum(b - a for k, (a, b) in enumerate(bounds) if k in done), progress
    )
    with parallel_backend(backend, n_jobs, scheduler=scheduler) as jobs:
        tasks = (
            delayed(_extract_chunk)(
                k, str(root), files[a:b], extractor, image_shape, size, str(chunk_dir)
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
    manifest = assembler.finish(extractor)
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
    _hold_point("manifest", 0, out)
    _write_atomic(out / "manifest.json", json.dumps(manifest, indent=1).encode())
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
            (out / ".hold").unlink(missing_ok=True)
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


def _make_plan(root, out, arguments, features, size):
    paths, labels, class_names, stray = list_image_files(root)
    extractor, image_shape = _fit_extractor(paths, features, size, arguments["fit_sample"])
    save_model(extractor, out / _EXTRACTOR)
    _hold_point("plan", 0, out)
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
    _write_atomic(out / _RUN, json.dumps(plan).encode())
    return plan


def _relative(paths, root):
    prefix = os.path.join(str(root), "")
    return [p[len(prefix) :] if p.startswith(prefix) else os.path.relpath(p, root) for p in paths]


def _fit_extractor(paths, features, size, fit_sample):
    """Fit the extractors; return them and the shape every image must have."""
    extractor = build_extractor(features)
    learns = any(FEATURES[name][2] for name, _ in extractor.transformer_list)
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
            except (OSError, ValueError, cv2.error):
                continue
    if not good:
        raise ValueError(f"None of the {len(paths)} image files could be decoded.")
    shape = good[0].shape
    images = np.stack([image for image in good if image.shape == shape])
    extractor.fit(images if learns else images[:1])
    return extractor, shape


# -- phase 2: chunks --------------------------------------------------------------------------
def _chunk_path(chunk_dir, index):
    return Path(chunk_dir) / f"chunk-{index:06d}.npz"


def _extract_chunk(index, root, files, extractor, image_shape, size, chunk_dir):
    """Decode and extract one chunk of files; write its rows and failures atomically.

    Returns (index, number of files, number of failures).
    """
    start, cpu_start = time.perf_counter(), time.thread_time()
    images, kept, failures = [], [], []
    for i, name in enumerate(files):
        try:
            image = decode_image(os.path.join(root, name), size=size)
        except (OSError, ValueError, cv2.error) as exc:
            failures.append([name, str(exc) or type(exc).__name__])
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
    n_features = _n_features(extractor)
    rows = (
        extractor.transform(np.stack(images)).astype(np.float32, copy=False)
        if images
        else np.empty((0, n_features), dtype=np.float32)
    )
    path = _chunk_path(chunk_dir, index)
    temp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    with open(temp, "wb") as f:
        np.savez(
            f,
            features=rows,
            kept=np.asarray(kept, dtype=np.int64),
            failures=np.asarray(json.dumps(failures)),
            seconds=np.float64(time.perf_counter() - start),
            cpu_seconds=np.float64(time.thread_time() - cpu_start),
        )
    _hold_point("chunk-temp", index, Path(chunk_dir).parent)
    os.replace(temp, path)
    _hold_point("chunk-done", index, Path(chunk_dir).parent)
    return index, len(files), len(failures)


def _n_features(extractor):
    return sum(step.n_features_out_ for _, step in extractor.transformer_list)


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


# -- phase 3: assembly ------------------------------------------------------------------------
def _npy_header(shape):
    """The bytes numpy writes before the data of a C-ordered little-endian float32 array."""
    from io import BytesIO

    buffer = BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


class _Assembler:
    """Copies finished chunks, in order, into ``.features.npy.tmp`` at their final rows.

    Chunk ``k`` is copied as soon as chunks ``0 .. k`` are all done, so most of the copying
    overlaps the extraction. The rows go through a memory map of their own window only (the
    file is grown first), so memory does not grow with the collection. The header is written
    last, once the number of rows is known, into space reserved for the largest possible shape
    (numpy pads headers so that the shape can grow in place, so the real header nearly always
    fits exactly; when it does not, the rows are copied once more behind it). On a restart the
    file is rebuilt from the chunk files, which stay until the manifest is written.
    """

    def __init__(self, out, plan, n_chunks, n_features):
        self.out, self.plan, self.n_chunks, self.n_features = out, plan, n_chunks, n_features
        self.chunk_dir = out / _CHUNKS
        self.path = out / ".features.npy.tmp"
        self.reserved = len(_npy_header((len(plan["files"]), n_features)))
        with open(self.path, "wb") as f:
            f.write(b"\0" * self.reserved)
        self.next, self.n_rows = 0, 0
        self.kept, self.failures, self.seconds, self.cpu_seconds = [], [], 0.0, 0.0
        self.digest = hashlib.sha256()

    def advance(self, done):
        """Copy every chunk that is done and follows the ones already copied."""
        chunk_size = self.plan["arguments"]["chunk_size"]
        row_bytes = self.n_features * 4
        while self.next < self.n_chunks and self.next in done:
            k = self.next
            with np.load(_chunk_path(self.chunk_dir, k)) as chunk:
                block = np.ascontiguousarray(chunk["features"], dtype="<f4")
                self.kept.append(chunk["kept"] + k * chunk_size)
                self.failures.extend(json.loads(str(chunk["failures"])))
                self.seconds += float(chunk["seconds"])
                self.cpu_seconds += float(chunk["cpu_seconds"])
            if len(block):
                start = self.reserved + self.n_rows * row_bytes
                os.truncate(self.path, start + block.nbytes)
                window = np.memmap(
                    self.path, dtype="<f4", mode="r+", offset=start, shape=block.shape
                )
                window[:] = block
                del window  # unmapped: the rows stay in the page cache, safe from a kill
                self.digest.update(memoryview(block).cast("B"))
            self.n_rows += len(block)
            self.next += 1

    def finish(self, extractor):
        """Write the header, move features.npy into place, write the other files."""
        if self.next != self.n_chunks:
            raise RuntimeError(f"chunk {self.next} was not extracted")  # pragma: no cover
        header = _npy_header((self.n_rows, self.n_features))
        if len(header) == self.reserved:
            with open(self.path, "r+b") as f:
                f.write(header)
        else:  # the rare shape whose header is shorter: move the rows once
            moved = self.path.with_name(".features.npy.moved.tmp")
            with open(self.path, "rb") as source, open(moved, "wb") as target:
                target.write(header)
                source.seek(self.reserved)
                shutil.copyfileobj(source, target, 1 << 22)
            os.replace(moved, self.path)
        _hold_point("assembly", 0, self.out)
        os.replace(self.path, self.out / "features.npy")

        plan, out = self.plan, self.out
        rows = np.concatenate(self.kept) if self.kept else np.empty(0, dtype=np.int64)
        if plan["labels"] is not None:
            labels = np.asarray(plan["labels"], dtype=np.int64)[rows]
            _write_atomic(out / "labels.npy", _npy_bytes(labels))
            _write_atomic(out / "class_names.txt", _lines(plan["class_names"]))
        _write_atomic(out / "paths.txt", _lines(plan["files"][i] for i in rows))
        return _manifest(plan, extractor, rows, self)


def _manifest(plan, extractor, rows, assembler):
    failures = [{"path": p, "reason": r} for p, r in plan["stray"] + assembler.failures]
    blocks, start = [], 0
    for name, step in extractor.transformer_list:
        stop = start + step.n_features_out_
        blocks.append(
            {
                "name": name,
                "class": f"{type(step).__module__}.{type(step).__qualname__}",
                "parameters": _jsonable(step.get_params(deep=False)),
                "columns": [start, stop],
            }
        )
        start = stop
    return {
        "format": _FORMAT,
        "parameters": plan["arguments"],
        "n_files": len(plan["files"]) + len(plan["stray"]),
        "n_images": int(len(rows)),
        "n_failures": len(failures),
        "n_features": assembler.n_features,
        "image_shape": plan["image_shape"],
        "class_names": plan["class_names"],
        "features": blocks,
        "feature_names": extractor.get_feature_names_out().tolist(),
        "failures": failures,
        "versions": library_versions(),
        "timings": {
            "chunk_seconds_sum": assembler.seconds,
            "chunk_cpu_seconds_sum": assembler.cpu_seconds,
        },
        "rows_sha256": assembler.digest.hexdigest(),
    }


def _npy_bytes(array):
    from io import BytesIO

    buffer = BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _lines(items):
    return "".join(f"{item}\n" for item in items).encode()


def _write_atomic(path, data):
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    with open(temp, "wb") as f:
        f.write(data)
    os.replace(temp, path)


def library_versions():
    """Versions of Python and of the libraries that make the features.

    Examples
    --------
    >>> from pipelines.batch import library_versions
    >>> sorted(library_versions())[:3]
    ['joblib', 'numba', 'numpy']
    """
    import numba
    import skimage
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scikit-image": skimage.__version__,
        "opencv": cv2.__version__,
        "numba": numba.__version__,
        "joblib": joblib.__version__,
        "platform": sys.platform,
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _hold_point(stage, index, out):
    """A test hook: with VISIONFEATURES_BATCH_HOLD="stage:index", stop here for good.

    The process writes ``.hold`` in DIR and then waits forever, so that a test can kill it
    (SIGKILL) at exactly this point without guessing with sleeps.
    """
    target = os.environ.get(HOLD_VARIABLE)
    if target and target == f"{stage}:{index}":
        _write_atomic(Path(out) / ".hold", target.encode())
        threading.Event().wait()
