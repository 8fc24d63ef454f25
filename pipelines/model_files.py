"""Model files: a fitted pipeline with its class names, saved with skops.

A model file holds a dict: ``model`` (the fitted estimator), ``class_names`` (the label of
each class index, or None), ``input_shape`` (the shape of one training image as decoded, or
None), ``format`` and ``library`` (what wrote it). It is written with :mod:`skops.io`, whose
loader rebuilds only the types it is told to trust instead of running whatever code the file
names, as pickle does. :func:`load_model` trusts

* the library's own types: those of the ``features``, ``models`` and ``pipelines`` packages;
* the scikit-learn types that skops trusts by default, and those of :data:`TRUSTED_SKLEARN`;

and refuses a file holding any other type with an error that names it. Pickle (joblib) files
are written and read only on explicit request (``format="pickle"``, ``allow_pickle=True``).
"""

from pathlib import Path

import numpy as np
import skops.io as sio

from ._runtime import atomic_target, library_versions
from .datasets import decode_images

FORMATS = ("skops", "pickle")
_FORMAT_TAG = "visionfeatures-model/1"
_OWN_PACKAGES = ("features", "models", "pipelines")

# scikit-learn types the library's pipelines may hold that skops does not trust by default.
TRUSTED_SKLEARN = (
    "sklearn.pipeline.Pipeline",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.Normalizer",
    "sklearn.decomposition._pca.PCA",
    "sklearn.cluster._kmeans.KMeans",
    "sklearn.cluster._kmeans.MiniBatchKMeans",
    "sklearn.kernel_approximation.AdditiveChi2Sampler",
    "sklearn.kernel_approximation.Nystroem",
    "sklearn.kernel_approximation.RBFSampler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.svm._classes.SVC",
)


class UntrustedModelError(ValueError):
    """A model file names types that are not trusted."""


def save_model(model, path, *, class_names=None, input_shape=None, format="skops"):
    """Save a fitted model with its class names, atomically.

    Parameters
    ----------
    model : estimator
        Usually a fitted pipeline.
    path : str or Path
        The file to write (replaced only once the new file is complete).
    class_names : list of str or None
        The name of each class index the model predicts.
    input_shape : tuple of int or None
        The shape of one training image as decoded, e.g. (32, 32, 3); ``predict.py`` resizes
        images to it.
    format : {"skops", "pickle"}, default="skops"
        "pickle" (joblib) only for files that will never come from someone else.

    Returns
    -------
    path : Path

    Examples
    --------
    >>> from pipelines import make
    >>> from pipelines.datasets import load_dataset
    >>> from pipelines.model_files import load_model, save_model
    >>> digits = load_dataset("digits")
    >>> model = make("pixels-softmax").fit(digits.images, digits.labels)
    >>> path = save_model(model, "digits.skops", class_names=digits.class_names)  # doctest: +SKIP
    >>> load_model(path)["class_names"][:3]  # doctest: +SKIP
    ['0', '1', '2']
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown model file format {format!r}; expected skops or pickle.")
    content = {
        "format": _FORMAT_TAG,
        "model": model,
        "class_names": None if class_names is None else [str(c) for c in class_names],
        "input_shape": None if input_shape is None else [int(s) for s in input_shape],
        "library": library_versions(),
    }
    path = Path(path)
    with atomic_target(path) as temp:
        if format == "skops":
            sio.dump(content, temp)
        else:
            import joblib

            joblib.dump(content, temp)
    return path


def untrusted_types(path):
    """The types in a skops file that :func:`load_model` would refuse, sorted.

    Examples
    --------
    >>> from pipelines.model_files import untrusted_types
    >>> untrusted_types("model.skops")  # doctest: +SKIP
    []
    """
    return sorted(t for t in sio.get_untrusted_types(file=path) if not _is_trusted(t))


def _is_trusted(name):
    return name.split(".", 1)[0] in _OWN_PACKAGES or name in TRUSTED_SKLEARN


def load_model(path, *, trusted=(), allow_pickle=False):
    """Load a model file written by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
        A skops file (or, with ``allow_pickle``, a joblib pickle).
    trusted : sequence of str
        Further type names (as listed in the error) to trust for this file.
    allow_pickle : bool, default=False
        Read a file that is not a skops file with joblib (pickle), which runs any code the
        file names: only for files you made yourself.

    Returns
    -------
    content : dict
        ``model``, ``class_names``, ``input_shape``, ``format``, ``library``.

    Raises
    ------
    UntrustedModelError
        When the file holds types that are not trusted; the message names them.
    ValueError
        When the file is missing, is not a skops file (and ``allow_pickle`` is False), or
        was not written by :func:`save_model`.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Model file {str(path)!r} does not exist.")
    if _is_skops(path):
        foreign = sorted(set(untrusted_types(path)) - set(trusted))
        if foreign:
            raise UntrustedModelError(
                f"Refusing to load {str(path)!r}: it holds types that are not trusted: "
                f"{', '.join(foreign)}. Load only files you trust; to accept these types, "
                "pass them as trusted."
            )
        accepted = sio.get_untrusted_types(file=path)
        content = sio.load(path, trusted=accepted)
    elif allow_pickle:
        import joblib

        content = joblib.load(path)
    else:
        raise ValueError(
            f"{str(path)!r} is not a skops model file; if it is a pickle you made yourself, "
            "load it with allow_pickle=True (--allow-pickle)."
        )
    if not isinstance(content, dict) or content.get("format") != _FORMAT_TAG:
        raise ValueError(f"{str(path)!r} is not a model file written by this library.")
    return content


def _is_skops(path):
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return "schema.json" in archive.namelist()


def predict_files(content, paths, *, n_jobs=-1):
    """Predict the class of each image file with a loaded model file.

    Each file is decoded as the training images were: grey when they were grey, else RGB,
    and resized to the training images' (rows, cols) when its size differs (INTER_AREA when
    shrinking, INTER_LINEAR otherwise), so a model trained on 32 x 32 images accepts photos of
    any size. A model file without ``input_shape`` gets the images as decoded, in colour.

    Parameters
    ----------
    content : dict
        As returned by :func:`load_model`.
    paths : list of str
        Image files.
    n_jobs : int, default=-1
        Decoding threads.

    Returns
    -------
    rows : list of dict
        One per path, in order: ``path``, ``class`` (the class name, or the label when the
        file has no class names), ``probability`` (of that class, when the model has
        ``predict_proba``; else None) and ``error`` (None, or why the file was not predicted).

    Examples
    --------
    >>> from pipelines.model_files import load_model, predict_files
    >>> predict_files(load_model("digits.skops"), ["seven.png"])  # doctest: +SKIP
    [{'path': 'seven.png', 'class': '7', 'probability': 0.97, 'error': None}]
    """
    model, class_names, shape = content["model"], content["class_names"], content["input_shape"]
    grey = shape is not None and len(shape) == 2
    size = None if shape is None else tuple(shape[:2])
    images, failures = decode_images(list(paths), grey=grey, size=size, n_jobs=n_jobs)
    reasons = dict(failures)
    rows = [{"path": p, "class": None, "probability": None, "error": reasons.get(p)} for p in paths]
    good = [i for i, image in enumerate(images) if image is not None]
    if shape is None:  # no shape to resize to: predict the images of the first one's shape
        first = images[good[0]].shape if good else None
        for i in good:
            if images[i].shape != first:
                rows[i]["error"] = f"image of shape {images[i].shape}, not {first}"
        good = [i for i in good if images[i].shape == first]
    if not good:
        return rows
    batch = np.stack([images[i] for i in good])
    predicted = model.predict(batch)
    probability = None
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(batch)
        column = {c: j for j, c in enumerate(model.classes_)}
        probability = proba[np.arange(len(good)), [column[c] for c in predicted]]
    for j, i in enumerate(good):
        label = predicted[j]
        named = isinstance(label, (int, np.integer)) and class_names is not None
        named = named and 0 <= label < len(class_names)
        rows[i]["class"] = class_names[int(label)] if named else str(label)
        rows[i]["probability"] = None if probability is None else float(probability[j])
    return rows
