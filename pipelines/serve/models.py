"""The models a server serves: model files found, loaded, checked, described and run in batches.

A model file from ``train.py`` or ``grid_search.py`` holds a classifier, a pipeline whose first
step is named ``features`` (then ``scale``, ``clf``); one from ``extract_features.py``
(``extractor.skops``) holds the fitted extractors, a transformer. Both carry ``input_shape``,
the shape of one image as it was decoded for training or extraction, and the service decodes
every image to it through :func:`pipelines.datasets.decode_bytes`, the library's one decode
path: grey when ``input_shape`` has two dimensions, else RGB, resized to its (rows, cols).
"""

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .._runtime import DEFAULT_MAX_PIXELS, jsonable, library_versions
from ..datasets import DecodeError, decode_bytes
from ..model_files import load_model

MODEL_SUFFIX = ".skops"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ModelFileError(ValueError):
    """A model file that cannot be served; the message is one line naming the file."""


@dataclass(frozen=True)
class Prediction:
    """The answer for one image of a predict request."""

    label: str
    probabilities: object = None  # ndarray of the classes' probabilities, or None


@dataclass(frozen=True)
class ImageError:
    """Why one image was not answered (not an image, truncated, over the pixel limit ...)."""

    reason: str


@dataclass
class ServedModel:
    """A loaded model file, ready to run batches of images.

    Attributes
    ----------
    name : str
        The name in URLs (``/v1/models/{name}``).
    path : str
        The model file.
    sha256 : str
        Hex digest of the file's bytes.
    kind : {"classifier", "extractor"}
    model : estimator
        The fitted pipeline (classifier) or extractor union, as loaded.
    features : transformer
        The step that makes the features: the pipeline's ``features`` step, or the extractor.
    head : Pipeline or None
        The rest of a classifier pipeline (``scale``, ``clf``); None for an extractor.
    input_shape : tuple of int
        One decoded image: (rows, cols) for grey, (rows, cols, 3) for colour.
    classes : list of str
        The name of each column of the probabilities (empty for an extractor).
    file_library : dict
        Library versions the file was written with.
    """

    name: str
    path: str
    sha256: str
    kind: str
    model: object
    features: object
    head: object
    input_shape: tuple
    classes: list
    file_library: dict
    _label_names: dict = field(default_factory=dict, repr=False)

    @property
    def grey(self):
        """True when images are decoded as grey."""
        return len(self.input_shape) == 2

    @property
    def size(self):
        """(rows, cols) every image is resized to."""
        return tuple(self.input_shape[:2])

    @property
    def has_probabilities(self):
        """True for a classifier with ``predict_proba`` (softmax, neural network)."""
        return self.head is not None and hasattr(self.head, "predict_proba")

    @property
    def n_features(self):
        """Length of one feature row."""
        return len(self.feature_names)

    @cached_property
    def feature_names(self):
        """Names of the feature columns."""
        return [str(n) for n in self.features.get_feature_names_out()]

    def hog(self):
        """The HOG extractor among the features, or None."""
        from features import HOG

        if isinstance(self.features, HOG):
            return self.features
        for _, step in getattr(self.features, "transformer_list", []):
            if isinstance(step, HOG):
                return step
        return None

    # -- images ------------------------------------------------------------------------------
    def decode(self, data, max_pixels):
        """Decode encoded image bytes as the model's training images were decoded."""
        return decode_bytes(data, grey=self.grey, size=self.size, max_pixels=max_pixels)

    def check_pixels(self, images):
        """Check a batch of pixel arrays ``(n, rows, cols[, channels])``; return it as uint8.

        Raises a one-line ``ValueError`` when the channels do not fit the model (grey
        models take ``(n, rows, cols)`` or one channel, colour models three, RGB).
        """
        images = np.asarray(images)
        channels = 1 if images.ndim == 3 else images.shape[-1] if images.ndim == 4 else None
        wanted = 1 if self.grey else 3
        if images.ndim not in (3, 4) or channels != wanted or 0 in images.shape:
            layout = "[n, rows, cols] or [n, rows, cols, 1]" if self.grey else "[n, rows, cols, 3]"
            raise ValueError(
                f"model {self.name!r} takes {'grey' if self.grey else 'RGB'} images as a "
                f"tensor of shape {layout}; got shape {list(images.shape)}"
            )
        if self.grey and images.ndim == 4:
            images = images[..., 0]
        return np.ascontiguousarray(images, dtype=np.uint8)

    def resize(self, images):
        """Pixel arrays resized to the model's size by the library's one resize rule."""
        from features import resize_images

        if images.shape[1:3] == self.size:
            return images
        return resize_images(images, self.size)

    def transform(self, images):
        """Feature rows (float32) of a batch of decoded images: the features step's output.

        A union of extractors is applied as :class:`~sklearn.pipeline.FeatureUnion.transform`
        does, each extractor in turn and the rows side by side, but without its joblib
        dispatch, which costs more than the extractors themselves on small batches; unions
        with weights, or with steps dropped or passed through, go through ``transform``.
        """
        union = getattr(self.features, "transformer_list", None)
        plain = union is not None and self.features.transformer_weights is None
        plain = plain and all(hasattr(step, "transform") for _, step in union)
        if plain:
            rows = np.hstack([step.transform(images) for _, step in union])
        else:
            rows = self.features.transform(images)
        return rows.astype(np.float32, copy=False)

    # -- a batch -----------------------------------------------------------------------------
    def run_batch(self, items, max_pixels):
        """Answer a batch of images; the service's batcher calls this off the event loop.

        Parameters
        ----------
        items : list of (payload, op)
            ``payload`` is encoded image bytes (decoded here) or one uint8 image already
            checked by :meth:`check_pixels`; ``op`` is "predict" or "features".
        max_pixels : int
            The pixel limit of decoding.

        Returns
        -------
        outputs : list
            One per item: a :class:`Prediction`, a float32 feature row, or an
            :class:`ImageError`.
        """
        outputs = [None] * len(items)
        images, kept = [], []
        for i, (payload, _) in enumerate(items):
            if isinstance(payload, np.ndarray):
                images.append(payload)
                kept.append(i)
                continue
            try:
                images.append(self.decode(payload, max_pixels))
            except DecodeError as exc:
                outputs[i] = ImageError(str(exc))
                continue
            except Exception as exc:  # a decoder's own failure: this image's error, not the batch's
                outputs[i] = ImageError(f"not a decodable image ({type(exc).__name__}: {exc})")
                continue
            kept.append(i)
        if not kept:
            return outputs
        batch = self.resize(np.stack(images))
        rows = self.transform(batch)
        wanted = [j for j, i in enumerate(kept) if items[i][1] == "predict"]
        for j, i in enumerate(kept):
            if items[i][1] == "features":
                outputs[i] = rows[j]
        if wanted:
            head_rows = rows[wanted]
            labels = self.head.predict(head_rows)
            proba = self.head.predict_proba(head_rows) if self.has_probabilities else None
            for k, j in enumerate(wanted):
                outputs[kept[j]] = Prediction(
                    self._label_names.get(labels[k], str(labels[k])),
                    None if proba is None else proba[k],
                )
        return outputs

    def warm_up(self, max_pixels, n_images=4):
        """Run one batch of synthetic images through decoding and the pipeline.

        Compiles (or loads from numba's cache) every kernel the model uses, so that the first
        request does not pay for it. Returns the number of images answered.
        """
        import cv2

        rng = np.random.default_rng(0)
        image = rng.integers(0, 256, self.input_shape, dtype=np.uint8)
        png = cv2.imencode(".png", image)[1].tobytes()
        op = "predict" if self.kind == "classifier" else "features"
        outputs = self.run_batch([(png, op)] * n_images, max_pixels)
        failed = [o.reason for o in outputs if isinstance(o, ImageError)]
        if failed:
            raise RuntimeError(f"warm-up of model {self.name!r} failed: {failed[0]}")
        return len(outputs)

    def hog_picture(self, data, max_pixels):
        """PNG of the HOG glyph picture of an encoded image, as the model's HOG sees it.

        The image is decoded as for training, resized to the HOG's own ``size`` when it has
        one, and drawn by :func:`features.hog_image` with the HOG's parameters; the glyphs are
        stretched so that the strongest 0.5 % saturate. Returns an :class:`ImageError` for an
        image that cannot be read.
        """
        import cv2

        from features import hog_image, resize_images

        hog = self.hog()
        try:
            image = self.decode(data, max_pixels)
        except DecodeError as exc:
            return ImageError(str(exc))
        if hog.size is not None and image.shape[:2] != tuple(hog.size):
            image = resize_images(image[None], tuple(hog.size))[0]
        cells = hog.pixels_per_cell
        cells = (cells, cells) if isinstance(cells, (int, np.integer)) else tuple(cells)
        picture = hog_image(
            image,
            orientations=hog.orientations,
            pixels_per_cell=cells,
            transform_sqrt=hog.transform_sqrt,
        )
        top = float(np.percentile(picture, 99.5)) or 1.0
        grey = np.clip(picture / top * 255.0, 0, 255).astype(np.uint8)
        return cv2.imencode(".png", grey)[1].tobytes()

    # -- description -------------------------------------------------------------------------
    def summary(self):
        """The short description of ``GET /v1/models``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "input": self.input_description(),
            "classes": list(self.classes) if self.kind == "classifier" else None,
            "probabilities": self.has_probabilities,
            "n_features": self.n_features,
            "hog": self.hog() is not None,
            "sha256": self.sha256,
        }

    def input_description(self):
        """Rows, cols and colour of the images the model sees."""
        rows, cols = self.size
        return {
            "rows": rows,
            "cols": cols,
            "channels": 1 if self.grey else 3,
            "colour": "grey" if self.grey else "rgb",
            "resized": "every image is decoded and resized to rows x cols, as for training",
        }

    def description(self):
        """The full description of ``GET /v1/models/{name}``."""
        return {
            **self.summary(),
            "file": os.path.basename(self.path),
            "steps": describe_estimator(self.model),
            "feature_names": self.feature_names,
            "library": {"file": self.file_library, "server": library_versions()},
        }


def describe_estimator(estimator):
    """Class and parameters of an estimator; the steps of pipelines and unions, recursively.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> describe_estimator(StandardScaler())["class"]
    'sklearn.preprocessing._data.StandardScaler'
    """
    cls = type(estimator)
    out = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    parts = getattr(estimator, "steps", None) or getattr(estimator, "transformer_list", None)
    if parts is not None:
        out["steps"] = [{"name": name, **describe_estimator(step)} for name, step in parts]
        return out
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    out["params"] = jsonable(params)
    return out


# -- finding and loading model files ------------------------------------------------------------
def resolve_specs(specs):
    """The (name, path) pairs that MODEL arguments name.

    A MODEL is a model file (named by its stem), ``NAME=PATH``, or a folder, which serves
    every ``.skops`` file in it, each named by its stem.

    Parameters
    ----------
    specs : list of str

    Returns
    -------
    pairs : list of (str, str)

    Raises
    ------
    ModelFileError
        For a folder with no model file, a bad name, or two models of one name.

    Examples
    --------
    >>> from pipelines.serve.models import resolve_specs
    >>> resolve_specs(["digits=out/model.skops", "photos.skops"])
    [('digits', 'out/model.skops'), ('photos', 'photos.skops')]
    """
    pairs = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or os.path.exists(spec) or not _NAME.fullmatch(name):
            name, path = None, spec
        if name is None and os.path.isdir(path):
            files = sorted(Path(path).glob(f"*{MODEL_SUFFIX}"))
            if not files:
                raise ModelFileError(f"Model folder {path!r} holds no {MODEL_SUFFIX} file.")
            pairs.extend((f.stem, str(f)) for f in files)
            continue
        pairs.append((name or Path(path).stem, path))
    seen = {}
    for name, path in pairs:
        if not _NAME.fullmatch(name):
            raise ModelFileError(
                f"Model name {name!r} (of {path!r}) is not usable in a URL: use letters, "
                "digits, '.', '_' and '-', or name it with NAME=PATH."
            )
        if name in seen:
            raise ModelFileError(
                f"Two models are named {name!r} ({seen[name]!r} and {path!r}); name them "
                "with NAME=PATH."
            )
        seen[name] = path
    return pairs


def file_sha256(path):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_served(name, path, *, trusted=(), max_pixels=DEFAULT_MAX_PIXELS):
    """Load one model file for serving.

    Parameters
    ----------
    name : str
        The model's name in URLs.
    path : str
        A skops model file from ``train.py``, ``grid_search.py`` or ``extract_features.py``.
    trusted : sequence of str
        Further types to trust (as ``predict.py --trust``).
    max_pixels : int
        The service's pixel limit: a file whose image size is above it is refused.

    Returns
    -------
    model : ServedModel

    Raises
    ------
    ModelFileError
        One line naming the file: missing, not a model file, corrupt, holding an untrusted
        type (named), or holding no image pipeline the service can run.
    """
    try:
        content = load_model(path, trusted=trusted, max_pixels=max_pixels)
    except Exception as exc:  # a damaged archive makes zipfile, json or skops raise anything
        message = " ".join(str(exc).split())
        if str(path) not in message:  # load_model's own errors name the file already
            message = f"Cannot load model file {str(path)!r}: {type(exc).__name__}: {message}"
        raise ModelFileError(message.rstrip(": ")) from None
    model, shape = content["model"], content["input_shape"]
    if shape is None or len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3):
        raise ModelFileError(
            f"Model file {str(path)!r} records no usable input_shape ({shape!r}): the service "
            "needs (rows, cols) or (rows, cols, 3) to decode images as for training."
        )
    if hasattr(model, "predict"):
        steps = getattr(model, "steps", None)
        if not steps or steps[0][0] != "features" or len(steps) < 2:
            raise ModelFileError(
                f"Model file {str(path)!r} holds a {type(model).__name__} that is not a "
                "pipeline starting with a 'features' step (as train.py writes)."
            )
        kind, features, head = "classifier", steps[0][1], model[1:]
    elif hasattr(model, "transform"):
        kind, features, head = "extractor", model, None
    else:
        raise ModelFileError(
            f"Model file {str(path)!r} holds a {type(model).__name__}, neither a classifier "
            "pipeline nor an extractor."
        )
    class_names = content["class_names"]
    labels = list(getattr(head, "classes_", [])) if head is not None else []
    names = {}
    for label in labels:
        named = isinstance(label, (int, np.integer)) and class_names is not None
        named = named and 0 <= label < len(class_names)
        names[label] = class_names[int(label)] if named else str(label)
    return ServedModel(
        name=name,
        path=str(path),
        sha256=file_sha256(path),
        kind=kind,
        model=model,
        features=features,
        head=head,
        input_shape=tuple(int(s) for s in shape),
        classes=[names[label] for label in labels],
        file_library=dict(content.get("library") or {}),
        _label_names=names,
    )


def load_models(specs, *, trusted=(), max_pixels=DEFAULT_MAX_PIXELS):
    """Load every model that MODEL arguments name; {name: ServedModel} in argument order.

    Raises
    ------
    ModelFileError
        For the first file that cannot be served (one line naming it).
    """
    return {
        name: load_served(name, path, trusted=trusted, max_pixels=max_pixels)
        for name, path in resolve_specs(specs)
    }
