"""Model files: a fitted pipeline with its class names, saved with skops.

A model file holds a dict: ``model`` (the fitted estimator), ``class_names`` (the label of
each class index, or None), ``input_shape`` (the shape of one training image as decoded, or
None), ``format`` and ``library`` (what wrote it). It is written with :mod:`skops.io`, whose
loader rebuilds only the types it is told to trust instead of running whatever code the file
names, as pickle does. :func:`load_model` reads the file's ``schema.json`` itself and trusts
exactly

* the library's own classes that a model holds, each by its full name (:data:`TRUSTED_OWN`),
  never a whole package: another installed package called ``models`` is not ours;
* the scikit-learn types of :data:`TRUSTED_SKLEARN`, and plain data (builtins, NumPy arrays,
  scalars and random states: :data:`TRUSTED_DATA`);
* no function at all: a function, bound method or ``functools.partial`` in a file is refused
  unless the caller names it in ``trusted`` (so a ``FunctionTransformer`` loads only with a
  function the caller trusts by name);

and refuses a file holding anything else before anything in it is built, with an error that
names it. A model never reads a file that the model file names: nothing on the lists reads
files, :class:`pipelines.search.CachedFeatures` (whose ``cache_dir`` is a folder of pickles)
is refused, and so is a pipeline with a ``memory`` cache; :func:`save_model` refuses to write
either. A malformed file, or one whose values are out of range (an ``input_shape`` over the
pixel limit, class names that are not strings), is refused with one line that names the file
and the problem. Pickle (joblib) files are written and read only on explicit request
(``format="pickle"``, ``allow_pickle=True``).
"""

import io
import json
import zipfile
from numbers import Integral
from pathlib import Path

import numpy as np
import skops.io as sio

from ._runtime import DEFAULT_MAX_PIXELS, atomic_target, check_output_file, library_versions
from .datasets import check_max_pixels, check_size, decode_images

FORMATS = ("skops", "pickle")
_FORMAT_TAG = "visionfeatures-model/1"

# The library's classes that a fitted model may hold, by full name. tests/test_model_files.py
# checks that this covers every class the registry's pipelines and extractors produce (with
# every optimiser, activation, loss and schedule of models/).
TRUSTED_OWN = (
    "features.raw.RawPixels",
    "features.hog.HOG",
    "features.color.ColorHistogram",
    "features.bovw.BagOfVisualWords",
    "models.linear.LinearClassifier",
    "models.network.NeuralNetClassifier",
    "models.activations.Identity",
    "models.activations.Sigmoid",
    "models.activations.Tanh",
    "models.activations.ReLU",
    "models.activations.LeakyReLU",
    "models.activations.ELU",
    "models.activations.Softplus",
    "models.activations.Maxout",
    "models.losses.SoftmaxCrossEntropy",
    "models.losses.MulticlassHinge",
    "models.losses.OneVsRestSquaredHinge",
    "models.losses.SquaredError",
    "models.optimizers.SGD",
    "models.optimizers.Momentum",
    "models.optimizers.Nesterov",
    "models.optimizers.AdaGrad",
    "models.optimizers.RMSProp",
    "models.optimizers.Adam",
    "models.optimizers.AdamW",
    "models.optimizers.SGDW",
    "models.optimizers.LBFGS",
    "models.schedules.Constant",
    "models.schedules.Step",
    "models.schedules.Cosine",
    "models.schedules.WarmRestarts",
)

# scikit-learn types the library's pipelines hold, or that a user's pipeline of the same kind
# may hold; none of them reads a file or calls a function it is given, except
# FunctionTransformer, whose function must itself be trusted by name.
TRUSTED_SKLEARN = (
    "sklearn.pipeline.Pipeline",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.Normalizer",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.decomposition._pca.PCA",
    "sklearn.cluster._kmeans.KMeans",
    "sklearn.cluster._kmeans.MiniBatchKMeans",
    "sklearn.kernel_approximation.AdditiveChi2Sampler",
    "sklearn.kernel_approximation.Nystroem",
    "sklearn.kernel_approximation.RBFSampler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    # the loss a fitted SGDClassifier keeps (hinge and perceptron, modified_huber,
    # squared_hinge, log_loss)
    "sklearn.linear_model._sgd_fast.Hinge",
    "sklearn.linear_model._sgd_fast.ModifiedHuber",
    "sklearn.linear_model._sgd_fast.SquaredHinge",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.svm._classes.SVC",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
)

# Plain data: containers, NumPy arrays, scalar types and random states.
TRUSTED_DATA = tuple(
    sorted(
        {f"builtins.{t}" for t in ("dict", "list", "tuple", "set", "str", "int", "float")}
        | {"builtins.bool", "builtins.bytes", "builtins.bytearray", "builtins.slice"}
        | {"numpy.ndarray", "numpy.ma.core.MaskedArray", "numpy.random.mtrand.RandomState"}
        | {"numpy.random._generator.Generator", "numpy.random.Generator"}
        | {f"numpy.random.{n}" for n in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")}
        | {f"numpy.{t.__name__}" for t in set(np.sctypeDict.values())}
    )
)

# skops nodes that stand for a function rather than for data or an estimator.
_FUNCTION_NODES = ("FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode")
# Why a type the library knows is refused, shown with its name.
_REFUSAL_NOTES = {
    "pipelines.search.CachedFeatures": (
        "pipelines.search.CachedFeatures is a grid search's feature cache, which reads the "
        "pickles of its cache folder; a model file must hold its transformer_ instead"
    ),
}
_MAX_MODEL_BYTES = 1 << 30  # decompressed size of all the members of a model file


class UntrustedModelError(ValueError):
    """A model file names types or functions that are not trusted."""


class ModelFileError(ValueError):
    """A model file that is malformed, or whose values are out of range."""


def save_model(model, path, *, class_names=None, input_shape=None, format="skops", trusted=()):
    """Save a fitted model with its class names, atomically.

    The model must be one :func:`load_model` would load (only trusted types, no functions
    unless ``trusted`` names them, no cache folder): a file that could not be read back is
    never written.

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
    trusted : sequence of str
        Further type or function names the file may hold (see :func:`load_model`).

    Returns
    -------
    path : Path

    Raises
    ------
    UntrustedModelError
        When the model holds types or functions :func:`load_model` would refuse, or a cache.

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
    path = Path(path)
    caches = _caches(model)
    if caches:
        raise UntrustedModelError(
            f"Refusing to save {str(path)!r}: the model holds {'; '.join(caches)}. Caching "
            "belongs to the search that made the model, never to a model file."
        )
    content = {
        "format": _FORMAT_TAG,
        "model": model,
        "class_names": None if class_names is None else [str(c) for c in class_names],
        "input_shape": None if input_shape is None else [int(s) for s in input_shape],
        "library": library_versions(),
    }
    if format == "skops":
        data = sio.dumps(content)
        refused = _refused(data, trusted)
        if refused:
            raise UntrustedModelError(_refusal("save", str(path), refused))
    check_output_file(path)
    with atomic_target(path) as temp:
        if format == "skops":
            temp.write_bytes(data)
        else:
            import joblib

            joblib.dump(content, temp)
    return path


def untrusted_types(path, *, trusted=()):
    """The types and functions in a skops file that :func:`load_model` would refuse, sorted.

    Examples
    --------
    >>> from pipelines.model_files import untrusted_types
    >>> untrusted_types("model.skops")  # doctest: +SKIP
    []
    """
    name = str(path)
    return sorted(_refused(_read_model_bytes(Path(path)), trusted, name=name))


def load_model(path, *, trusted=(), allow_pickle=False, max_pixels=DEFAULT_MAX_PIXELS):
    """Load a model file written by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
        A skops file (or, with ``allow_pickle``, a joblib pickle).
    trusted : sequence of str
        Further type or function names (as listed in the error) to trust for this file.
    allow_pickle : bool, default=False
        Read a file that is not a skops file with joblib (pickle), which runs any code the
        file names: only for files you made yourself.
    max_pixels : int, default=4096*4096
        The largest ``input_shape`` (rows x cols) accepted: images are decoded to it.

    Returns
    -------
    content : dict
        ``model``, ``class_names``, ``input_shape``, ``format``, ``library``.

    Raises
    ------
    UntrustedModelError
        When the file holds types or functions that are not trusted; the message names them.
        Nothing in the file is built, imported or called.
    ModelFileError
        When the file is missing or malformed, was not written by :func:`save_model`, or
        holds values out of range; the message, one line, names the file and the problem.
    ValueError
        When the file is not a skops file and ``allow_pickle`` is False.

    Examples
    --------
    >>> from pipelines.model_files import load_model
    >>> content = load_model("digits.skops")  # doctest: +SKIP
    >>> content["class_names"][:3], content["input_shape"]  # doctest: +SKIP
    (['0', '1', '2'], [8, 8])
    """
    path = Path(path)
    return loads_model(
        _read_model_bytes(path),
        name=str(path),
        trusted=trusted,
        allow_pickle=allow_pickle,
        max_pixels=max_pixels,
    )


def loads_model(
    data, *, name="<bytes>", trusted=(), allow_pickle=False, max_pixels=DEFAULT_MAX_PIXELS
):
    """:func:`load_model` of a model file's bytes; ``name`` is shown in errors.

    Examples
    --------
    >>> from pathlib import Path
    >>> from pipelines.model_files import loads_model
    >>> data = Path("digits.skops").read_bytes()  # doctest: +SKIP
    >>> loads_model(data, name="digits.skops")["input_shape"]  # doctest: +SKIP
    [8, 8]
    """
    limit = check_max_pixels(max_pixels)
    if _is_skops(data, name):
        refused = _refused(data, trusted, name=name)
        if refused:
            raise UntrustedModelError(_refusal("load", name, refused))
        accepted = sorted(_names(_schema(data, name)) | set(trusted))
        try:
            content = sio.loads(data, trusted=accepted)
        except MemoryError:
            raise
        except Exception as exc:  # skops raises many types on a malformed file
            raise ModelFileError(f"Cannot load model file {name!r}: {_one_line(exc)}.") from None
    elif allow_pickle:
        import joblib

        try:
            content = joblib.load(io.BytesIO(data))
        except MemoryError:
            raise
        except Exception as exc:  # unpickling raises anything
            raise ModelFileError(f"Cannot load pickle file {name!r}: {_one_line(exc)}.") from None
    else:
        raise ValueError(
            f"{name!r} is not a skops model file; if it is a pickle you made yourself, "
            "load it with allow_pickle=True (--allow-pickle)."
        )
    _check_content(content, name, limit)
    return content


# -- reading and checking a file --------------------------------------------------------------
def _read_model_bytes(path):
    try:
        if not path.is_file():
            raise ModelFileError(f"Model file {str(path)!r} does not exist or is not a file.")
        if path.stat().st_size > _MAX_MODEL_BYTES:
            raise ModelFileError(
                f"Model file {str(path)!r} is larger than {_MAX_MODEL_BYTES} bytes."
            )
        return path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"Cannot read model file {str(path)!r}: {exc.strerror}.") from None


def _is_skops(data, name):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "schema.json" in archive.namelist()
    except zipfile.BadZipFile as exc:
        if data.startswith(b"PK\x03\x04"):  # a zip archive's first bytes: one that is damaged
            raise ModelFileError(
                f"Cannot load model file {name!r}: it is a damaged zip archive ({_one_line(exc)})."
            ) from None
        return False


def _schema(data, name):
    """The parsed schema.json of a skops file, after checking the archive's sizes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
            if total > _MAX_MODEL_BYTES:
                raise ModelFileError(
                    f"Cannot load model file {name!r}: its members would take {total} bytes "
                    f"decompressed, more than {_MAX_MODEL_BYTES}."
                )
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, RecursionError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(
            f"Cannot load model file {name!r}: its schema.json cannot be read ({_one_line(exc)})."
        ) from None
    if not isinstance(schema, dict):
        raise ModelFileError(f"Cannot load model file {name!r}: its schema.json is not a mapping.")
    return schema


def _names(schema):
    """{full name} of every type and function a skops schema names."""
    return {name for name, _ in _nodes(schema)}


def _nodes(schema):
    """[(full name, skops node kind)] of every object a skops schema describes.

    Every mapping of the schema that has a ``__class__`` is a node (skops reads a node's type
    from ``__module__`` and ``__class__``), wherever it sits, so nothing escapes the check.
    """
    found, stack = [], [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__class__" in item:
                module, cls = item.get("__module__"), item.get("__class__")
                name = f"{module}.{cls}"
                loader = item.get("__loader__")
                if loader == "MethodNode" and isinstance(item.get("content"), dict):
                    name += f".{item['content'].get('func')}"
                found.append((name, loader))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _refused(data, trusted, *, name="<model>"):
    """{name: "type" | "function"} of what a skops file holds that is not trusted."""
    trusted = set(trusted)
    types = set(TRUSTED_OWN) | set(TRUSTED_SKLEARN) | set(TRUSTED_DATA) | trusted
    refused = {}
    for full, loader in _nodes(_schema(data, name)):
        if loader in _FUNCTION_NODES:
            if full not in trusted:
                refused[full] = "function"
        elif full not in types:
            refused[full] = "type"
    if refused:
        return refused
    try:  # and whatever skops itself would not trust beyond that
        extra = set(sio.get_untrusted_types(data=data)) - types
    except MemoryError:
        raise
    except Exception as exc:  # skops raises many types on a malformed file
        raise ModelFileError(f"Cannot load model file {name!r}: {_one_line(exc)}.") from None
    for full in extra - set(refused):
        refused[full] = "type"
    return refused


def _refusal(verb, name, refused):
    types = sorted(n for n, kind in refused.items() if kind == "type")
    functions = sorted(n for n, kind in refused.items() if kind == "function")
    parts = []
    if types:
        parts.append(f"types that are not trusted: {', '.join(types)}")
    if functions:
        parts.append(f"functions, which are never trusted unless named: {', '.join(functions)}")
    notes = [_REFUSAL_NOTES[n] for n in types if n in _REFUSAL_NOTES]
    note = f" ({'; '.join(notes)})" if notes else ""
    if verb == "save":
        tail = "a file holding them could not be loaded; pass them as trusted if you trust them."
    else:
        tail = "Load only files you trust; to accept these types, pass them as trusted."
    return f"Refusing to {verb} {name!r}: it holds {'; and '.join(parts)}{note}. {tail}"


def _one_line(exc):
    text = " ".join(str(exc).split()) or "no detail"
    return f"{type(exc).__name__}: {text}"


def _caches(model):
    """Descriptions of the caches an estimator tree holds (a cache folder, a memory)."""
    found = []
    for owner, estimator in _estimators(model):
        if getattr(estimator, "cache_dir", None) is not None or (
            type(estimator).__name__ == "CachedFeatures"
        ):
            found.append(f"a {type(estimator).__name__} with a cache ({owner})")
        if getattr(estimator, "memory", None) is not None:
            found.append(f"a {type(estimator).__name__} with memory={estimator.memory!r} ({owner})")
    return found


def _estimators(model, owner="model"):
    """Yield (where, estimator) for ``model`` and every estimator nested in it."""
    yield owner, model
    if not hasattr(model, "get_params"):
        return
    for key, value in model.get_params(deep=False).items():
        if hasattr(value, "get_params") and not isinstance(value, type):
            yield from _estimators(value, f"{owner}.{key}")
        elif isinstance(value, (list, tuple)):
            for item in value:
                named = isinstance(item, tuple) and len(item) >= 2
                step = item[1] if named else item
                if hasattr(step, "get_params") and not isinstance(step, type):
                    # a step or a union's part by its name: model.steps.features
                    yield from _estimators(
                        step, f"{owner}.{key}" + (f".{item[0]}" if named else "")
                    )
    for attribute in ("transformer_", "estimator_", "best_estimator_"):
        fitted = getattr(model, attribute, None)
        if hasattr(fitted, "get_params"):
            yield from _estimators(fitted, f"{owner}.{attribute}")


def _check_content(content, name, limit):
    """Raise a one-line ModelFileError for content that save_model would not have written."""

    def bad(problem):
        return ModelFileError(f"Model file {name!r} {problem}.")

    if not isinstance(content, dict) or content.get("format") != _FORMAT_TAG:
        tag = content.get("format") if isinstance(content, dict) else type(content).__name__
        raise bad(f"was not written by this library (format {tag!r}, expected {_FORMAT_TAG!r})")
    missing = [k for k in ("model", "class_names", "input_shape") if k not in content]
    if missing:
        raise bad(f"lacks {', '.join(missing)}")
    names = content["class_names"]
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise bad(f"has class_names that are not a list of strings: {_short(names)}")
    shape = content["input_shape"]
    if shape is not None:
        ints = isinstance(shape, list) and all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape
        )
        if not ints or len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3)):
            raise bad(
                "has an input_shape that is not [rows, cols] or [rows, cols, 1 or 3] of "
                f"positive ints: {_short(shape)}"
            )
        try:
            check_size(shape[:2], limit)
        except ValueError as exc:
            raise bad(f"has an input_shape over the pixel limit: {str(exc).rstrip('.')}") from None
    model = content["model"]
    if not (hasattr(model, "predict") or hasattr(model, "transform")):
        raise bad(f"holds a {type(model).__name__}, which is not an estimator")
    try:
        caches = _caches(model)
        sizes = [
            (owner, value)
            for owner, estimator in _estimators(model)
            for value in (
                getattr(estimator, "size", None),
                getattr(estimator, "image_shape_", None),
            )
            if value is not None
        ]
    except MemoryError:
        raise
    except Exception as exc:  # an estimator rebuilt from inconsistent attributes
        raise bad(f"holds a malformed estimator ({_one_line(exc)})") from None
    if caches:
        raise bad(f"holds {'; '.join(caches)}, and a model file must never name files")
    for owner, value in sizes:
        try:
            check_size(tuple(value)[:2], limit)
        except (TypeError, ValueError) as exc:
            raise bad(
                f"holds an image size out of range at {owner}: {str(exc).rstrip('.')}"
            ) from None


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def predict_files(content, paths, *, n_jobs=-1, max_pixels=DEFAULT_MAX_PIXELS, name="the model"):
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
    max_pixels : int, default=4096*4096
        Larger images are failures, refused from their header.
    name : str
        The model file, for errors.

    Returns
    -------
    rows : list of dict
        One per path, in order: ``path``, ``class`` (the class name, or the label when the
        file has no class names), ``probability`` (of that class, when the model has
        ``predict_proba``; else None) and ``error`` (None, or why the file was not predicted).

    Raises
    ------
    ValueError
        When the model does not predict classes (a feature extractor), or fails on the
        images (a model file whose arrays do not fit together); one line naming ``name``.

    Examples
    --------
    >>> from pipelines.model_files import load_model, predict_files
    >>> predict_files(load_model("digits.skops"), ["seven.png"])  # doctest: +SKIP
    [{'path': 'seven.png', 'class': '7', 'probability': 0.97, 'error': None}]
    """
    model, class_names, shape = content["model"], content["class_names"], content["input_shape"]
    if not hasattr(model, "predict"):
        raise ValueError(
            f"{name} holds a {type(model).__name__} (a feature extractor), which does not "
            "predict classes; apply it to images with: visionfeatures features "
            f"{name} INPUT --out DIR"
        )
    grey = shape is not None and (len(shape) == 2 or shape[2] == 1)
    size = None if shape is None else tuple(shape[:2])
    images, failures = decode_images(
        list(paths), grey=grey, size=size, max_pixels=max_pixels, n_jobs=n_jobs
    )
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
    try:
        predicted = model.predict(batch)
        probability = None
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(batch)
            column = {c: j for j, c in enumerate(model.classes_)}
            probability = proba[np.arange(len(good)), [column[c] for c in predicted]]
    except MemoryError:
        raise
    except Exception as exc:  # a file's arrays that do not fit each other, or these images
        raise ValueError(f"The model of {name} failed on the images: {_one_line(exc)}") from None
    for j, i in enumerate(good):
        label = predicted[j]
        named = isinstance(label, (int, np.integer)) and class_names is not None
        named = named and 0 <= label < len(class_names)
        rows[i]["class"] = class_names[int(label)] if named else str(label)
        rows[i]["probability"] = None if probability is None else float(probability[j])
    return rows
