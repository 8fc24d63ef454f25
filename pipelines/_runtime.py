"""The small pieces every job of the package shares: atomic writes, versions, JSON, backends.

This module sits at the bottom of ``pipelines``: it imports nothing from the package, and every
other module may import it. It imports NumPy, joblib and the libraries whose versions it reports
only inside the functions that need them, so that a command's ``--help`` stays instant.
"""

import json
import os
import platform
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

BACKENDS = ("loky", "threading", "dask")
DEFAULT_MAX_PIXELS = 4096 * 4096  # per image: decoding, batch jobs, the service, the commands


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


def dumps(value):
    """``value`` as indented JSON text (see :func:`jsonable`), ending with a newline."""
    return json.dumps(jsonable(value), indent=1) + "\n"


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
        Workers for loky and threading (joblib's convention: -1 is all cores).
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
        with joblib.parallel_config(backend=backend):
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
        with joblib.parallel_config(backend="dask", scatter=scatter):
            yield -1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
