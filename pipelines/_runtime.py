"""The small pieces every job of the package shares: atomic writes, output checks, folder
locks, versions, JSON, parallel backends and their worker limits.

This module sits at the bottom of ``pipelines``: it imports nothing from the package, and every
other module may import it. It imports NumPy, joblib and the libraries whose versions it reports
only inside the functions that need them, so that a command's ``--help`` stays instant.
"""

import os
import platform
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

BACKENDS = ("loky", "threading", "dask")
DEFAULT_MAX_PIXELS = 4096 * 4096  # per image: decoding, batch jobs, the service, the commands
LOCK_NAME = ".visionfeatures.lock"  # in an output folder while a job writes it
_PARENT_POLL_SECONDS = 0.25  # how often a worker process checks that its parent still runs


# -- files ------------------------------------------------------------------------------------
def temp_path(path):
    """A temporary name beside ``path``, unique to this process and thread.

    ``.<name>.<pid>-<thread>.tmp``: in the target's own folder, so that renaming it onto the
    target is atomic, and hidden, so that listings skip it.

    Examples
    --------
    >>> from pipelines._runtime import temp_path
    >>> temp_path("out/features.npy").name.startswith(".features.npy.")
    True
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")


@contextmanager
def atomic_target(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block ends.

    A reader sees either the old file or the complete new one, never a part. If the block
    raises, the temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> from pipelines._runtime import atomic_target
    >>> with atomic_target("notes.txt") as temp:  # doctest: +SKIP
    ...     temp.write_text("complete")
    """
    temp = temp_path(path)
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomic(path, data):
    """Write ``data`` (bytes) to ``path`` through a temporary file beside it, then rename.

    Examples
    --------
    >>> from pipelines._runtime import write_atomic
    >>> write_atomic("run.json", b"{}")  # doctest: +SKIP
    """
    with atomic_target(path) as temp, open(temp, "wb") as f:
        f.write(data)


def check_output_file(path):
    """Check, before any work, that ``path`` can be written as a file; create its folder.

    Returns ``path`` as a Path; raises a one-line ``ValueError`` for a path that is an
    existing folder, or whose folder cannot be made or written.

    Examples
    --------
    >>> from pipelines._runtime import check_output_file
    >>> check_output_file("model.skops").name
    'model.skops'
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"Output {str(path)!r} is an existing folder; expected a file name.")
    if path.exists() and not path.is_file():
        raise ValueError(f"Output {str(path)!r} exists and is not a regular file.")
    _writable_folder(path.parent, f"the folder of output {str(path)!r}")
    return path


def check_output_folder(path, create=True):
    """Check, before any work, that ``path`` is or can be made a writable folder; make it.

    Returns ``path`` as a Path; raises a one-line ``ValueError`` otherwise. With
    ``create=False`` only an existing file in the way is refused, and nothing is made (the
    batch jobs check the rest themselves, such as an output inside their input).

    Examples
    --------
    >>> from pipelines._runtime import check_output_folder
    >>> check_output_folder("results").name  # doctest: +SKIP
    'results'
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"Output {str(path)!r} exists and is not a folder.")
    if create:
        _writable_folder(path, f"output folder {str(path)!r}")
    return path


def _writable_folder(folder, what):
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"Cannot create {what}: {exc.strerror or exc}.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"Cannot write into {what}: permission denied.")


class FolderLockedError(OSError):
    """An output folder is being written by another job."""


@contextmanager
def locked_folder(folder, *, wait=False):
    """Hold an exclusive lock on ``folder`` while the block runs.

    The lock is ``fcntl.flock`` on the file :data:`LOCK_NAME` in the folder (created if
    needed, never removed, so that every job locks the same file). The operating system
    releases it when the holder's file is closed, which happens when its process ends in any
    way, SIGKILL included: a killed job never leaves a folder locked.

    Parameters
    ----------
    folder : str or Path
        An existing folder.
    wait : bool, default=False
        Wait for another job's lock to be released, instead of raising.

    Raises
    ------
    FolderLockedError
        When another job holds the lock and ``wait`` is False; the message names the folder
        and, when known, the other job's process.

    Examples
    --------
    >>> from pipelines._runtime import locked_folder
    >>> with locked_folder("features-out"):  # doctest: +SKIP
    ...     pass  # write the folder's files
    """
    path = Path(folder) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by worker processes
    try:
        try:
            _lock(fd, wait)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").split()
            who = f" (process {holder[0]} on {holder[1]})" if len(holder) >= 2 else ""
            raise FolderLockedError(
                f"{str(folder)!r} is being written by another job{who}; wait until it ends "
                "(or pass --wait), or choose another output folder."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {platform.node() or 'this-machine'}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock(fd, wait):
    try:
        import fcntl
    except ImportError:  # Windows: a byte-range lock, also released when the process ends
        import msvcrt

        mode = msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK
        try:
            msvcrt.locking(fd, mode, 1)
        except OSError:
            raise BlockingIOError from None
        return
    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))


# -- values -----------------------------------------------------------------------------------
def jsonable(value):
    """``value`` with NumPy scalars, tuples and types made plain JSON values.

    Dicts get string keys, tuples become lists, NumPy scalars Python numbers, types their
    name; anything else that JSON cannot hold becomes its ``repr``.

    Examples
    --------
    >>> import numpy as np
    >>> from pipelines._runtime import jsonable
    >>> jsonable({"size": (32, 32), "C": np.float64(0.5), "dtype": np.float32})
    {'size': [32, 32], 'C': 0.5, 'dtype': 'float32'}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, type):
        return value.__name__
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def library_versions():
    """Versions of Python and of the libraries that make the features and the models.

    Examples
    --------
    >>> from pipelines._runtime import library_versions
    >>> sorted(library_versions())[:3]
    ['joblib', 'numba', 'numpy']
    """
    import cv2
    import joblib
    import numba
    import numpy as np
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


# -- parallel backends ------------------------------------------------------------------------
def worker_count(n_jobs, n_tasks=None):
    """The number of workers to start: ``n_jobs`` capped at the cores and at ``n_tasks``.

    ``n_jobs`` follows joblib's convention (None is 1; -1 all cores, -2 all but one ...).
    More workers than cores only compete for them, and more than tasks only wait, but each
    costs its memory: ``--n-jobs 100000`` starts as many workers as there are cores.

    Examples
    --------
    >>> from pipelines._runtime import worker_count
    >>> worker_count(1), worker_count(100000, n_tasks=1)
    (1, 1)
    """
    import joblib

    if isinstance(n_jobs, bool) or not (n_jobs is None or isinstance(n_jobs, int)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero int or None; got {n_jobs!r}.")
    cores = max(1, joblib.cpu_count())
    wanted = 1 if n_jobs is None else n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    cap = cores if n_tasks is None else min(cores, max(1, n_tasks))
    return max(1, min(wanted, cap))


def end_with_parent(parent_pid):
    """Worker-process initializer: end this process as soon as its parent process ends.

    A worker whose parent was killed (even by SIGKILL, which runs no clean-up) would go on
    with its task and hold its memory. A daemon thread checks every 0.25 s whether the
    process has been handed to another parent and, if so, ends the process at once
    (``os._exit``: there is nobody left to report to). Threads run while the extractors'
    numba kernels and NumPy work (they release the GIL), so the worker ends mid-task.

    Parameters
    ----------
    parent_pid : int
        The process that starts the workers (``os.getpid()`` there).
    """
    direct = os.getppid() == parent_pid  # loky starts its workers itself: they are children

    def gone():
        if direct:
            return os.getppid() != parent_pid  # handed to another parent: ours has ended
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # a process of another user took the number: ours has ended
            return True
        return False

    if gone():
        os._exit(1)

    def watch():
        tick = threading.Event()
        while not tick.wait(_PARENT_POLL_SECONDS):
            if gone():
                os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def check_backend(backend, allowed=BACKENDS):
    """Raise a one-line ``ValueError`` unless ``backend`` is one of ``allowed``."""
    if backend not in allowed:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {', '.join(allowed)}.")


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
        Workers for loky and threading (joblib's convention: -1 is all cores), capped at the
        cores (:func:`worker_count`). Loky's worker processes end when this process ends
        (:func:`end_with_parent`), however it ends.
    scheduler : str or None
        Address of a running dask scheduler, such as "tcp://10.0.0.5:8786".
    scatter : list or None
        Objects sent once to every dask worker (joblib's ``scatter``), such as ``[X, y]``.
    """
    import joblib

    check_backend(backend)
    if backend != "dask":
        if scheduler is not None:
            raise ValueError("A scheduler address is only used with backend 'dask'.")
        n_jobs = worker_count(n_jobs)
        options = {}
        if backend == "loky":
            options = {"initializer": end_with_parent, "initargs": (os.getpid(),)}
        with joblib.parallel_config(backend=backend, **options):
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
        workers = worker_count(-1 if n_jobs is None else n_jobs)
        cluster = LocalCluster(
            n_workers=max(1, workers),
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        with joblib.parallel_config(backend="dask", scatter=scatter):
            yield -1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
