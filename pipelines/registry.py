"""Named pipelines: ``features -> scale -> clf``, ready to fit on a batch of images.

Every factory returns a fresh, unfitted :class:`sklearn.pipeline.Pipeline` whose steps are
named ``features``, ``scale`` and ``clf``, so that grids read ``features__pixels_per_cell`` or
``clf__C``. Names follow ``<features>-<classifier>``.
"""

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from features import RawPixels

_PIPELINES = {}


def _register(name, description):
    def decorator(factory):
        _PIPELINES[name] = (factory, description)
        return factory

    return decorator


def available():
    """The names of the registered pipelines, in the order of the comparison table.

    Examples
    --------
    >>> from pipelines import available
    >>> available()[:2]
    ['pixels-softmax', 'pixels-svm']
    """
    return list(_PIPELINES)


def describe(name):
    """A one-line description of pipeline ``name``."""
    return _lookup(name)[1]


def make(name, **params):
    """Build the named pipeline, unfitted.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    **params
        Passed to ``Pipeline.set_params``, e.g. ``clf__C=0.1``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``features``, ``scale``, ``clf``.

    Examples
    --------
    >>> from pipelines import make
    >>> from pipelines.datasets import load_dataset
    >>> digits = load_dataset("digits")
    >>> model = make("pixels-softmax").fit(digits.images[:1000], digits.labels[:1000])
    >>> float(model.score(digits.images[1000:], digits.labels[1000:])) > 0.9
    True
    """
    pipeline = _lookup(name)[0]()
    return pipeline.set_params(**params) if params else pipeline


def _lookup(name):
    try:
        return _PIPELINES[name]
    except KeyError:
        raise ValueError(
            f"Unknown pipeline {name!r}; available: {', '.join(available())}."
        ) from None


def _pipeline(features, clf):
    return Pipeline([("features", features), ("scale", StandardScaler()), ("clf", clf)])


@_register("pixels-softmax", "raw pixels -> standardise -> multinomial logistic regression")
def _pixels_softmax():
    return _pipeline(RawPixels(), LogisticRegression(C=0.1, max_iter=200))


@_register("pixels-svm", "raw pixels -> standardise -> linear SVM (LinearSVC, dual)")
def _pixels_svm():
    return _pipeline(RawPixels(), LinearSVC(C=1e-2, dual=True, max_iter=1000))
