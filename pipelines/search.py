"""Grid and randomised search over a named pipeline, with the extracted features cached.

Feature extraction is usually the costly step of a pipeline, and most grids vary the
classifier. :class:`CachedFeatures` wraps the ``features`` step so that a candidate whose
feature parameters were seen before, on the same images, reuses their features instead of
extracting them again: the first candidate of a ``clf__C`` grid extracts the features of each
fold, the later ones read them. The key is a digest of the images' *bytes* (with their dtype
and shape) and of the extractor's parameters, never a guess from an array's address or a
sample of its values; the fitted extractor and its outputs are kept in memory and, for other
worker processes, in a cache folder.

scikit-learn's own ``Pipeline(memory=...)`` would cache only the fit of the training folds
(not the transform of the validation folds that scoring needs) and hashes the whole array
with ``joblib.hash`` at every call; ``scripts/bench_batch.py hash`` measures the two keys.
"""

import csv
import hashlib
import json
import logging
import math
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import (
    GridSearchCV,
    ParameterGrid,
    ParameterSampler,
    RandomizedSearchCV,
    StratifiedKFold,
)
from sklearn.utils.validation import check_is_fitted

from ._charts import annotated_grid, save
from ._runtime import atomic_target, check_backend, jsonable, parallel_backend
from .registry import make_for

logger = logging.getLogger(__name__)

_HASH = "sha256"  # hashlib's fastest here (SHA extensions): see scripts/bench_batch.py hash
_MEMORY_LIMIT = 2 << 30  # bytes of arrays kept in this process's memory cache
_memory = {}
_memory_lock = threading.Lock()
_events = []  # (call, hit, seconds) of every CachedFeatures call in this process, in order


def content_key(*parts):
    """A hex digest of arrays' bytes, dtypes and shapes, and of other values' repr.

    Every byte of an array is hashed (it is made C-contiguous first if it is not), so two
    arrays get the same key only when they hold the same values in the same layout.

    Examples
    --------
    >>> import numpy as np
    >>> from pipelines.search import content_key
    >>> a = np.arange(6).reshape(2, 3)
    >>> content_key(a) == content_key(a.copy()), content_key(a) == content_key(a.T)
    (True, False)
    """
    digest = hashlib.new(_HASH)
    for part in parts:
        if isinstance(part, (list, tuple)) and _holds_array(part):
            digest.update(f"list{len(part)}".encode())
            part = content_key(*part)
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            if array.dtype.hasobject:
                digest.update(joblib.hash(array).encode())
            else:
                digest.update(memoryview(array.reshape(-1)).cast("B"))
        else:
            digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _holds_array(values):
    """Whether a list or tuple holds an array, at any depth (fit parameters come as a list of
    (name, value) pairs): such a part is hashed part by part, never by its repr, which
    elides the middle of a large array."""
    return any(
        isinstance(v, np.ndarray) or (isinstance(v, (list, tuple)) and _holds_array(v))
        for v in values
    )


class CachedFeatures(TransformerMixin, BaseEstimator):
    """A transformer whose fit and transform results are cached by the content of their input.

    Parameters
    ----------
    transformer : estimator
        The wrapped feature extractor; it is cloned for fitting.
    cache_dir : str or None, default=None
        A folder shared by worker processes (created if needed); None keeps the cache in
        this process's memory only.

    Attributes
    ----------
    transformer_ : estimator
        The fitted clone of ``transformer`` (from the cache when it was there).
    cache_hits_ : int
        How many of this object's fit and transform calls were answered from the cache.

    Examples
    --------
    >>> import numpy as np
    >>> from features import RawPixels
    >>> from pipelines.search import CachedFeatures
    >>> images = np.zeros((4, 8, 8), dtype=np.uint8)
    >>> step = CachedFeatures(RawPixels())
    >>> step.fit_transform(images).shape, CachedFeatures(RawPixels()).fit(images).cache_hits_
    ((4, 64), 1)
    """

    def __init__(self, transformer, cache_dir=None):
        self.transformer = transformer
        self.cache_dir = cache_dir

    def _parameters_key(self):
        params = self.transformer.get_params(deep=True)
        return content_key(type(self.transformer).__qualname__, sorted(params.items(), key=str))

    def fit(self, X, y=None, **fit_params):
        """Fit the wrapped transformer, or take it fitted from the cache."""
        self.fit_transform(X, y, **fit_params)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Fit the wrapped transformer and transform ``X``, or read both from the cache."""
        self.cache_hits_ = 0
        start = time.perf_counter()
        key = content_key("fit", self._parameters_key(), X, y, sorted(fit_params.items()))
        found = self._get(key)
        if found is None:
            transformer = clone(self.transformer)
            features = transformer.fit_transform(X, y, **fit_params)
            self._put(key, (transformer, features))
        else:
            transformer, features = found
            self.cache_hits_ += 1
        _events.append(("fit", found is not None, time.perf_counter() - start))
        self.transformer_ = transformer
        self._fit_key = key
        return features

    def transform(self, X):
        """Transform ``X`` with the fitted transformer, or read the result from the cache."""
        check_is_fitted(self, "transformer_")
        start = time.perf_counter()
        key = content_key("transform", self._fit_key, X)
        features = self._get(key)
        hit = features is not None
        if not hit:
            features = self.transformer_.transform(X)
            self._put(key, features)
        else:
            self.cache_hits_ += 1
        _events.append(("transform", hit, time.perf_counter() - start))
        return features

    def get_feature_names_out(self, input_features=None):
        """The wrapped transformer's feature names."""
        check_is_fitted(self, "transformer_")
        return self.transformer_.get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.transformer.__sklearn_tags__()
        tags.input_tags = inner.input_tags
        return tags

    # -- storage: this process's memory, then the shared folder ------------------------------
    def _get(self, key):
        with _memory_lock:
            if key in _memory:
                return _memory[key]
        if self.cache_dir is None:
            return None
        path = Path(self.cache_dir) / f"{key}.joblib"
        if not path.exists():
            return None
        value = joblib.load(path)  # our own files, in a folder this job created
        _remember(key, value)
        return value

    def _put(self, key, value):
        _remember(key, value)
        if self.cache_dir is None:
            return
        folder = Path(self.cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_target(folder / f"{key}.joblib") as temp:
            joblib.dump(value, temp)


def _remember(key, value):
    """Keep ``value`` in memory, forgetting the oldest entries beyond the memory limit."""
    with _memory_lock:
        _memory[key] = value
        total = sum(_nbytes(v) for v in _memory.values())
        while total > _MEMORY_LIMIT and len(_memory) > 1:
            oldest = next(iter(_memory))
            total -= _nbytes(_memory.pop(oldest))


def _nbytes(value):
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value)
    return value.nbytes if isinstance(value, np.ndarray) else 0


def clear_memory_cache():
    """Forget the features cached in this process's memory, and its :func:`cache_events`."""
    with _memory_lock:
        _memory.clear()
        _events.clear()


def cache_events():
    """The ``(call, hit, seconds)`` of every :class:`CachedFeatures` call in this process.

    ``call`` is "fit" or "transform", ``hit`` whether the cache answered, ``seconds`` the time
    the features step took (hashing included). With a search run in this process
    (``n_jobs=1``), the calls come candidate by candidate, two per fold (fit, then the
    transform of the validation fold), then the refit: see :func:`features_seconds`.
    """
    return list(_events)


def features_seconds(events, n_candidates, n_folds):
    """Seconds the features step took for each candidate of a sequential search.

    Examples
    --------
    >>> from pipelines.search import features_seconds
    >>> events = [("fit", False, 2.0), ("transform", False, 1.0)] + [("fit", True, 0.1),
    ...           ("transform", True, 0.1)] + [("fit", False, 3.0)]
    >>> features_seconds(events, 2, 1).tolist()
    [3.0, 0.2]
    """
    per_fit = 2 * n_folds
    seconds = np.asarray([e[2] for e in events[: n_candidates * per_fit]])
    if len(seconds) != n_candidates * per_fit:
        raise ValueError(
            f"Expected {n_candidates * per_fit} events of a sequential search; got {len(seconds)}."
        )
    return seconds.reshape(n_candidates, per_fit).sum(axis=1)


# -- grids ------------------------------------------------------------------------------------
def parse_grid(text):
    """Read a grid from inline JSON, or from a JSON or YAML file.

    A value is a list of candidates; with randomised search it may instead be a distribution
    ``{"loguniform": [low, high]}``, ``{"uniform": [low, high]}`` or ``{"randint": [low,
    high]}`` (scipy.stats). A list of such dicts is a list of grids, as in scikit-learn.

    Examples
    --------
    >>> from pipelines.search import parse_grid
    >>> parse_grid('{"clf__C": [0.01, 0.1, 1]}')
    {'clf__C': [0.01, 0.1, 1]}
    """
    text = str(text)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            grid = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"The grid is not valid JSON: {exc}.") from None
    else:
        path = Path(text)
        if not path.is_file():
            raise ValueError(
                f"The grid {text!r} is neither inline JSON nor an existing JSON/YAML file."
            )
        import yaml

        try:
            grid = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"The grid file {text!r} is not valid JSON or YAML: {exc}") from None
    grids = grid if isinstance(grid, list) else [grid]
    if not grids or not all(isinstance(g, dict) and g for g in grids):
        raise ValueError(
            "A grid is a non-empty mapping of parameter names to lists of values, such as "
            f'{{"clf__C": [0.01, 0.1, 1]}}; got {grid!r}.'
        )
    for g in grids:
        for name, values in g.items():
            if not (isinstance(values, list) and values) and not _is_distribution(values):
                raise ValueError(
                    f"The values of {name!r} must be a non-empty list (or a distribution such "
                    f'as {{"loguniform": [1e-4, 1]}}); got {values!r}.'
                )
    return grid


def _is_distribution(value):
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in ("loguniform", "uniform", "randint")
    )


def _distribution(value):
    from scipy import stats

    kind, (low, high) = next(iter(value.items()))
    if kind == "loguniform":
        return stats.loguniform(low, high)
    if kind == "uniform":
        return stats.uniform(low, high - low)
    return stats.randint(low, high)


def _prepare_grid(grid, valid, *, randomized, cached):
    """Check names against ``valid``; turn lists of pairs into tuples and rename for the cache."""
    grids = grid if isinstance(grid, list) else [grid]
    prepared = []
    for g in grids:
        unknown = sorted(set(g) - set(valid))
        if unknown:
            shown = ", ".join(sorted(k for k in valid if "__" in k)[:12])
            raise ValueError(
                f"Unknown grid parameter(s) {', '.join(unknown)}; the pipeline's parameters "
                f"include {shown}, ..."
            )
        out = {}
        for name, values in g.items():
            if _is_distribution(values):
                if not randomized:
                    raise ValueError(
                        f"{name!r} is a distribution; distributions need randomised search "
                        "(n_iter)."
                    )
                values = _distribution(values)
            else:
                values = [tuple(v) if isinstance(v, list) else v for v in values]
            out[_inner_name(name) if cached else name] = values
        prepared.append(out)
    return prepared if isinstance(grid, list) else prepared[0]


def _inner_name(name):
    return (
        "features__transformer__" + name[len("features__") :]
        if name.startswith("features__")
        else name
    )


def _outer_name(name):
    return name.replace("features__transformer__", "features__")


# -- the search -------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """What :func:`search` found.

    Attributes
    ----------
    cv_results : dict
        scikit-learn's ``cv_results_`` with the parameter names as the user gave them.
    best_params : dict
        The best candidate's parameters (user names; pass them to ``make(name, **params)``).
    best_score : float
    best_pipeline : Pipeline
        The best candidate refitted on all the data, without the cache wrapper.
    grid : dict or list of dict
        The grid as given.
    seconds : float
        Wall time of the search (refit included).
    pipeline : str
        The pipeline's name.
    scoring : str
        The score's name ("accuracy" when none was given).
    n_folds : int
        Folds of the cross-validation.
    """

    cv_results: dict
    best_params: dict
    best_score: float
    best_pipeline: object
    grid: object
    seconds: float
    pipeline: str = ""
    scoring: str = "accuracy"
    n_folds: int = 0


class _CandidateProgress:
    """Mixin for scikit-learn's searches: evaluate the candidates a batch at a time and
    report after each batch, with the best score so far.

    ``BaseSearchCV.fit`` calls ``_run_search(evaluate_candidates)``, the documented hook for
    search strategies; scikit-learn's own searches pass every candidate in one call. Here the
    same candidates (:meth:`_candidates`: the ``ParameterGrid`` or ``ParameterSampler`` the
    stock class uses) go in batches of ``_batch_size``; each call returns the results of all
    candidates so far, which ``_on_batch(results, n_candidates)`` receives (``results`` is None
    once before the first batch). Folds, results and ranks are those of one call, and the
    joblib workers are kept between batches. A batch holds enough candidates for its fits to
    fill every worker: ``n_jobs / gcd(n_jobs, n_folds)``.
    """

    _batch_size = 1
    _on_batch = None

    def __getstate__(self):
        # scikit-learn may send the search itself to the workers: not the progress bar
        state = dict(super().__getstate__())  # a copy: it may be the instance's own __dict__
        state.pop("_on_batch", None)
        return state

    def _run_search(self, evaluate_candidates):
        candidates = list(self._candidates())
        if self._on_batch is not None:
            self._on_batch(None, len(candidates))  # the total, before the first fit
        for start in range(0, len(candidates), self._batch_size):
            results = evaluate_candidates(candidates[start : start + self._batch_size])
            if self._on_batch is not None:
                self._on_batch(results, len(candidates))


class _GridSearch(_CandidateProgress, GridSearchCV):
    def _candidates(self):
        return ParameterGrid(self.param_grid)


class _RandomizedSearch(_CandidateProgress, RandomizedSearchCV):
    def _candidates(self):
        return ParameterSampler(
            self.param_distributions, self.n_iter, random_state=self.random_state
        )


def format_params(params):
    """Parameters as ``name=value, ...``, with NumPy scalars shown as plain numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from pipelines.search import format_params
    >>> format_params({"clf__C": np.float64(0.01), "features__size": (np.int64(32), 32)})
    'clf__C=0.01, features__size=(32, 32)'
    """
    return ", ".join(f"{name}={_plain(value)!r}" for name, value in params.items())


def _plain(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


class _Reporter:
    """The progress bar and log lines of a search: one step per candidate, best score so far."""

    def __init__(self, bar, scoring):
        self.bar, self.scoring, self.seen = bar, scoring, 0

    def __call__(self, results, total):
        if self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()
        if results is None:
            return
        scores = np.asarray(results["mean_test_score"], dtype=float)
        for i in range(self.seen, len(scores)):
            params = {_outer_name(k): v for k, v in results["params"][i].items()}
            logger.info(
                "candidate %d/%d: %s %.4f (%s)",
                i + 1,
                total,
                self.scoring,
                scores[i],
                format_params(params),
            )
        if np.isfinite(scores).any():
            self.bar.set_postfix_str(f"best {self.scoring} {np.nanmax(scores):.4f}", refresh=False)
        self.bar.update(len(scores) - self.seen)
        self.seen = len(scores)


def search(
    name,
    X,
    y,
    grid,
    *,
    cv=5,
    n_iter=None,
    scoring=None,
    n_jobs=None,
    backend="loky",
    scheduler=None,
    cache=True,
    cache_dir=None,
    random_state=0,
    verbose=0,
    progress=False,
):
    """Search the parameters of pipeline ``name`` by cross-validation.

    Parameters
    ----------
    name : str
        A registered pipeline (see :func:`pipelines.available`).
    X : ndarray of shape (n, rows, cols[, channels])
        The images.
    y : ndarray of shape (n,)
        The labels.
    grid : dict or list of dict
        As returned by :func:`parse_grid`: pipeline parameter names (``clf__C``,
        ``features__pixels_per_cell``) to lists of values.
    cv : int, default=5
        Folds of a stratified, shuffled split (seeded by ``random_state``).
    n_iter : int or None
        Randomised search with this many candidates instead of the full grid.
    scoring : str or None
        A scikit-learn scorer name; None is accuracy.
    n_jobs : int or None
        Parallel fits (joblib's convention); with ``backend="dask"`` the cluster decides.
    backend : {"loky", "dask"}, default="loky"
        "dask" runs the fits on a dask cluster (``scheduler`` or a local one), sending X and y
        to every worker once (``parallel_config(backend="dask", scatter=[X, y])``).
    scheduler : str or None
        A running dask scheduler's address.
    cache : bool, default=True
        Cache the features (see :class:`CachedFeatures`).
    cache_dir : str or None
        A folder for the cache shared by worker processes (on a cluster: shared storage that
        every worker sees at this path). None makes a temporary one, removed at the end, when
        the fits run in local processes (loky, or a local dask cluster); otherwise (threads,
        or a remote ``scheduler``) each process keeps its own cache in memory.
    random_state : int, default=0
        Seed of the folds and of the randomised candidates.
    verbose : int, default=0
        Passed to the search (scikit-learn prints its messages on stdout).
    progress : bool, default=False
        Show a tqdm progress bar on stderr, one step per candidate, with the best mean score
        so far; each candidate's score is also logged (level INFO) on this module's logger.

    Returns
    -------
    result : SearchResult

    Examples
    --------
    >>> from pipelines.datasets import load_dataset
    >>> from pipelines.search import search
    >>> digits = load_dataset("digits")
    >>> result = search("pixels-softmax", digits.images, digits.labels,
    ...                 {"clf__C": [0.01, 0.1]}, cv=3)
    >>> sorted(result.best_params)
    ['clf__C']
    """
    check_backend(backend, ("loky", "dask"))
    pipeline = make_for(name, X)
    valid = pipeline.get_params(deep=True)
    randomized = n_iter is not None
    inner = _prepare_grid(grid, valid, randomized=randomized, cached=cache)
    own_dir = None
    if cache:
        local_processes = (backend == "dask" and scheduler is None) or (
            backend == "loky" and n_jobs not in (None, 1)
        )
        if cache_dir is None and local_processes:
            cache_dir = own_dir = tempfile.mkdtemp(prefix="visionfeatures-cache-")
        pipeline.steps[0] = ("features", CachedFeatures(pipeline.steps[0][1], cache_dir))
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    options = dict(cv=folds, scoring=scoring, refit=True, verbose=verbose, error_score="raise")
    from tqdm.auto import tqdm

    score_name = scoring if isinstance(scoring, str) else "score" if scoring else "accuracy"
    bar = tqdm(desc=f"search {name}", unit="candidate", disable=not progress, dynamic_ncols=True)
    start = time.perf_counter()
    try:
        with (
            bar,
            parallel_backend(
                backend, n_jobs, scheduler=scheduler, scatter=[X, y] if backend == "dask" else None
            ) as jobs,
        ):
            if randomized:
                searcher = _RandomizedSearch(
                    pipeline,
                    inner,
                    n_iter=n_iter,
                    random_state=random_state,
                    n_jobs=jobs,
                    **options,
                )
            else:
                searcher = _GridSearch(pipeline, inner, n_jobs=jobs, **options)
            workers = joblib.effective_n_jobs(jobs)
            searcher._batch_size = max(1, workers // math.gcd(workers, cv))
            searcher._on_batch = _Reporter(bar, score_name)
            searcher.fit(X, y)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
    seconds = time.perf_counter() - start
    best = searcher.best_estimator_
    if cache:
        best.steps[0] = ("features", best.steps[0][1].transformer_)
    results = {_outer_name(k): v for k, v in searcher.cv_results_.items()}
    results["params"] = [{_outer_name(k): v for k, v in p.items()} for p in results["params"]]
    best_params = {_outer_name(k): v for k, v in searcher.best_params_.items()}
    logger.info(
        "best %s %.4f (%s) in %.1f s",
        score_name,
        searcher.best_score_,
        format_params(best_params),
        seconds,
    )
    return SearchResult(
        results,
        best_params,
        float(searcher.best_score_),
        best,
        grid,
        seconds,
        pipeline=name,
        scoring=score_name,
        n_folds=cv,
    )


def candidate_seconds(cv_results):
    """Seconds each candidate cost: (mean fit + mean score time) x number of folds.

    Examples
    --------
    >>> from pipelines.search import candidate_seconds
    >>> candidate_seconds({"mean_fit_time": [1.0, 0.1], "mean_score_time": [0.5, 0.1],
    ...                    "split0_test_score": [0, 0], "split1_test_score": [0, 0]}).tolist()
    [3.0, 0.4]
    """
    folds = sum(1 for k in cv_results if k.startswith("split") and k.endswith("_test_score"))
    return (
        np.asarray(cv_results["mean_fit_time"]) + np.asarray(cv_results["mean_score_time"])
    ) * folds


# -- report -----------------------------------------------------------------------------------
def write_search_report(result, out):
    """Write ``cv_results.csv``, ``best_params.json`` and, for a two-parameter grid,
    ``heatmap.png`` to ``out``. Returns the paths written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [_write_cv_results(result.cv_results, out / "cv_results.csv")]
    best = {
        "best_params": jsonable(result.best_params),
        "best_score": result.best_score,
        "seconds": result.seconds,
    }
    path = out / "best_params.json"
    path.write_text(json.dumps(best, indent=1) + "\n")
    written.append(path)
    grid = result.grid
    if (
        isinstance(grid, dict)
        and len(grid) == 2
        and all(isinstance(v, list) for v in grid.values())
    ):
        written.append(_heatmap(result, out / "heatmap.png"))
    return written


def _write_cv_results(results, path):
    columns = [k for k in results if k != "params"]
    n = len(results["mean_test_score"])
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for i in range(n):
            writer.writerow([_csv_value(results[c][i]) for c in columns])
    return path


def _csv_value(value):
    if value is np.ma.masked:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, (int, float, str)) else json.dumps(jsonable(value))


def _heatmap(result, path):
    save(heatmap_figure(result), path)
    return path


def heatmap_figure(result):
    """The mean cross-validated score of a two-parameter grid, one cell per candidate.

    The title names the pipeline, the metric and the folds; each cell shows its score in
    black or white, whichever reads better on its colour; the best cell is framed and
    written in bold. Drawn with matplotlib's object API (no pyplot, the backend untouched).

    Parameters
    ----------
    result : SearchResult
        Of a grid (a dict) of two parameters with lists of values.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> from pipelines.search import SearchResult, heatmap_figure
    >>> grid = {"clf__C": [0.1, 1.0], "features__orientations": [6, 9]}
    >>> params = [{"clf__C": c, "features__orientations": o} for c in (0.1, 1.0) for o in (6, 9)]
    >>> result = SearchResult({"params": params, "mean_test_score": [0.90, 0.92, 0.95, 0.93]},
    ...                       params[2], 0.95, None, grid, 1.0, pipeline="hog-svm", n_folds=5)
    >>> heatmap_figure(result).axes[0].get_title().splitlines()[0]
    'hog-svm: mean accuracy over 5 folds'
    """
    from matplotlib.figure import Figure

    results, grid = result.cv_results, result.grid
    (row_name, row_values), (col_name, col_values) = grid.items()
    scores = np.full((len(row_values), len(col_values)), np.nan)
    for params, score in zip(results["params"], results["mean_test_score"], strict=True):
        r = _position(row_values, params[row_name])
        c = _position(col_values, params[col_name])
        scores[r, c] = score
    best = (
        np.unravel_index(np.nanargmax(scores), scores.shape) if np.isfinite(scores).any() else None
    )
    figure = Figure(
        figsize=(max(5.5, 1.1 * len(col_values) + 3), max(3.5, 0.6 * len(row_values) + 2)),
        layout="constrained",
    )
    ax = figure.subplots()
    image = annotated_grid(ax, scores, fmt="{:.4f}", outline=best)
    ax.set_xticks(range(len(col_values)), [_tick(v) for v in col_values])
    ax.set_yticks(range(len(row_values)), [_tick(v) for v in row_values])
    ax.set_xlabel(col_name)
    ax.set_ylabel(row_name)
    metric = result.scoring or "score"
    figure.colorbar(image, ax=ax, label=f"mean {metric}")
    title = f"{result.pipeline + ': ' if result.pipeline else ''}mean {metric}"
    if result.n_folds:
        title += f" over {result.n_folds} folds"
    if best is not None:
        title += f"\nbest {scores[best]:.4f} (framed): {row_name}={_tick(row_values[best[0]])}, "
        title += f"{col_name}={_tick(col_values[best[1]])}"
    ax.set_title(title, fontsize=10)
    return figure


def _tick(value):
    """A grid value as a short plain label: 0.001, 1e-05, (8, 8), hsv."""
    value = _plain(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_tick(v) for v in value) + ")"
    return str(value)


def _position(values, value):
    for i, v in enumerate(values):
        if (tuple(v) if isinstance(v, list) else v) == value:
            return i
    raise ValueError(f"value {value!r} is not in the grid")
