"""The registries: named pipelines (``features -> scale -> clf``) and the feature extractors.

Every pipeline factory returns a fresh, unfitted :class:`sklearn.pipeline.Pipeline` whose steps
are named ``features``, ``scale`` and ``clf``, so that grids read ``features__pixels_per_cell``
or ``clf__C``. Names follow ``<features>-<classifier>``.

The extractor registry (:data:`EXTRACTORS`) names the extractors of the ``features`` package
for the command line and batch extraction (``--features hog,color``), and the pipelines build
their features step through it.

This module imports scikit-learn, the extractors and the models only inside the functions that
build something, so that listing the names (a command's ``--help``) stays instant.
"""

from typing import NamedTuple

_PIPELINES = {}


# -- extractors ----------------------------------------------------------------------------------
class Extractor(NamedTuple):
    """An entry of :data:`EXTRACTORS`."""

    class_name: str  # the class, exported by the ``features`` package
    learns: bool  # fit learns from the images (batch extraction fits it on a sample)
    description: str


EXTRACTORS = {
    "pixels": Extractor("RawPixels", False, "raw pixel values in [0, 1]"),
    "hog": Extractor("HOG", False, "histograms of oriented gradients (scikit-image's numbers)"),
    "color": Extractor("ColorHistogram", False, "colour histograms over a grid of cells"),
    "bovw": Extractor("BagOfVisualWords", True, "k-means bag of visual words (Coates et al.)"),
}


def extractor_class(name):
    """The extractor class behind a feature name of the command line.

    Parameters
    ----------
    name : str
        One of :data:`EXTRACTORS` ("pixels", "hog", "color", "bovw").

    Returns
    -------
    cls : type
        The class, from the ``features`` package.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the names.

    Examples
    --------
    >>> from pipelines.registry import extractor_class
    >>> extractor_class("pixels").__name__
    'RawPixels'
    """
    import features

    if name not in EXTRACTORS:
        raise ValueError(f"Unknown feature {name!r}; available: {', '.join(EXTRACTORS)}.")
    return getattr(features, EXTRACTORS[name].class_name)


def make_extractor(name, **params):
    """An unfitted extractor of the registry, with ``params``.

    Examples
    --------
    >>> from pipelines.registry import make_extractor
    >>> make_extractor("hog", orientations=12).orientations
    12
    """
    return extractor_class(name)(**params)


def check_feature_spec(spec):
    """Raise a one-line ``ValueError`` for an unknown feature or parameter in ``spec``.

    ``spec`` maps feature names to their parameters, ``{"hog": {"orientations": 12}}``.
    """
    for name, settings in spec.items():
        cls = extractor_class(name)
        valid = cls().get_params(deep=False)
        unknown = sorted(set(settings) - set(valid))
        if unknown:
            raise ValueError(
                f"Unknown parameter(s) {', '.join(unknown)} of feature {name!r} "
                f"({cls.__name__}); valid: {', '.join(sorted(valid))}."
            )


def build_extractor(spec, *, random_state=0):
    """An unfitted :class:`~sklearn.pipeline.FeatureUnion` of the extractors in ``spec``.

    Extractors with a ``random_state`` left unset get ``random_state``, so that a run can be
    repeated exactly. A string given for a parameter whose default is a type (``dtype``) is
    read as a NumPy dtype name.

    Examples
    --------
    >>> from pipelines.registry import build_extractor
    >>> build_extractor({"pixels": {"grey": True}}).transformer_list[0][0]
    'pixels'
    """
    import numpy as np
    from sklearn.pipeline import FeatureUnion

    check_feature_spec(spec)
    steps = []
    for name, settings in spec.items():
        defaults = extractor_class(name)().get_params(deep=False)
        params = dict(settings)
        for key, value in params.items():
            if isinstance(defaults.get(key), type) and isinstance(value, str):
                params[key] = np.dtype(value).type
        if "random_state" in defaults and params.get("random_state") is None:
            params["random_state"] = random_state
        steps.append((name, make_extractor(name, **params)))
    return FeatureUnion(steps)


def learns_from_images(extractor):
    """Whether fitting ``extractor`` (a union built by :func:`build_extractor`) learns from
    the images, so that it must be fitted on a sample rather than on one image."""
    return any(EXTRACTORS[name].learns for name, _ in extractor.transformer_list)


# -- pipelines -----------------------------------------------------------------------------------


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


def make(name, *, grey=False, **params):
    """Build the named pipeline, unfitted.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    grey : bool, default=False
        The pipeline will see grey images: colour histograms, whose colour spaces need three
        channels, are switched to ``color_space="grey"``.
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
    if grey:
        spaces = [key for key in pipeline.get_params() if key.endswith("color_space")]
        pipeline.set_params(**dict.fromkeys(spaces, "grey"))
    return pipeline.set_params(**params) if params else pipeline


def make_for(name, images, **params):
    """The named pipeline, set up for grey images when ``images`` are grey.

    Examples
    --------
    >>> import numpy as np
    >>> from pipelines.registry import make_for
    >>> make_for("color-svm", np.zeros((2, 8, 8))).get_params()["features__color_space"]
    'grey'
    """
    from .datasets import is_grey

    return make(name, grey=is_grey(images), **params)


def _lookup(name):
    try:
        return _PIPELINES[name]
    except KeyError:
        raise ValueError(
            f"Unknown pipeline {name!r}; available: {', '.join(available())}."
        ) from None


def _pipeline(features, clf):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("features", features), ("scale", StandardScaler()), ("clf", clf)])


def _union(**extractors):
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(list(extractors.items()))


def _linear(loss):
    # Trained to convergence (L-BFGS preconditioned by the ridge system) with a C chosen on a
    # stratified tenth of the training data (warm-started along C = 1e-6 ... 10), never on
    # the test images: the right C differs between collections far more than their sizes
    # explain (on raw pixels 1e-3 for CIFAR-10's softmax, at least 1e-2 for digits).
    from models import LinearClassifier

    return LinearClassifier(loss=loss, C="auto", random_state=0)


@_register("pixels-softmax", "raw pixels -> standardise -> softmax regression (C on held-out data)")
def _pixels_softmax():
    return _pipeline(make_extractor("pixels"), _linear("softmax"))


@_register("pixels-svm", "raw pixels -> standardise -> linear L2-SVM (C on held-out data)")
def _pixels_svm():
    return _pipeline(make_extractor("pixels"), _linear("squared_hinge"))


def _hog():
    # Resized to 32x32 (CIFAR-10's own size; digits' 8x8 upsampled 4x), so one set of cells
    # fits both and any input gives one feature length; 9 bins over 4x4-pixel cells (an 8x8
    # grid) in Dalal-Triggs 2x2-cell blocks with L2-Hys: 1,764 features. 4x4 cells beat 8x8
    # cells on CIFAR-10 (52.5% against 51.6% on a 5,000-image hold-out).
    return make_extractor(
        "hog", orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), size=(32, 32)
    )


def _hsv_grid():
    # Hue, saturation and value histograms (8 bins each) in each cell of a 4x4 grid: colour
    # with its rough layout, 384 features.
    return make_extractor("color", bins=8, color_space="hsv", mode="marginal", grid=(4, 4))


def _hog_and_color():
    hog = make_extractor(
        "hog", orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3), size=(32, 32)
    )
    return _union(hog=hog, color=_hsv_grid())


@_register("hog-svm", "HOG (32x32, 4x4 cells, 2x2 blocks, L2-Hys) -> standardise -> linear SVM")
def _hog_svm():
    return _pipeline(_hog(), _linear("squared_hinge"))


@_register("hog-softmax", "HOG (32x32, 4x4 cells, 2x2 blocks) -> standardise -> softmax regression")
def _hog_softmax():
    return _pipeline(_hog(), _linear("softmax"))


@_register("color-svm", "HSV histograms over a 4x4 grid -> standardise -> linear SVM")
def _color_svm():
    return _pipeline(_hsv_grid(), _linear("squared_hinge"))


@_register("hog+color-svm", "HOG (8x8 cells, 3x3 blocks) + HSV grid histograms -> linear SVM")
def _hog_color_svm():
    return _pipeline(_hog_and_color(), _linear("squared_hinge"))


def _mlp():
    # 512 ReLU units, AdamW (learning rate 2e-3, decoupled weight decay 1e-4), batch 200, a
    # half-cosine learning rate over at most 40 epochs, early stopping on a 10% validation
    # split after 15 epochs without a better score (it warns when it stops). On digits (80/20
    # split, random_state=0) 1e-3 with a patience of 10 stopped after 18 epochs at 0.939
    # (0.964 once ties keep the later epoch), below scikit-learn's MLP (0.975): the 130
    # validation images tie often and 7 batches an epoch train little. On 10,000 CIFAR-10
    # images (2,000 held out) the two settings scored 0.459 / 0.454 (seed 0) and
    # 0.413 / 0.433 (seed 1).
    from models import NeuralNetClassifier

    return NeuralNetClassifier(
        hidden_layer_sizes=(512,),
        learning_rate=2e-3,
        batch_size=200,
        schedule="cosine",
        max_epochs=40,
        weight_decay=1e-4,
        early_stopping=True,
        n_iter_no_change=15,
        random_state=0,
    )


@_register("pixels-mlp", "raw pixels -> standardise -> NumPy MLP (512 ReLU, AdamW, cosine)")
def _pixels_mlp():
    return _pipeline(make_extractor("pixels"), _mlp())


@_register("pixels-mlp-sklearn", "raw pixels -> standardise -> sklearn MLPClassifier (512 ReLU)")
def _pixels_mlp_sklearn():
    from sklearn.neural_network import MLPClassifier

    return _pipeline(
        make_extractor("pixels"),
        MLPClassifier((512,), batch_size=200, early_stopping=True, random_state=0),
    )


@_register("hog+color-mlp", "HOG + HSV grid histograms -> standardise -> NumPy MLP")
def _hog_color_mlp():
    return _pipeline(_hog_and_color(), _mlp())


def _bovw():
    # Coates, Lee & Ng (2011): 6x6 patches at stride 1, brightness/contrast normalised and
    # ZCA-whitened, 1,600 k-means words, triangle encoding, sums over the four quadrants.
    return make_extractor("bovw", random_state=0)


@_register("bovw-svm", "bag of visual words (Coates et al., 1,600 words) -> L2-SVM")
def _bovw_svm():
    # Coates' classifier, the one-vs-rest L2-SVM (squared hinge), trained to convergence with
    # its C chosen on held-out training data like the other linear pipelines. LinearSVC
    # (liblinear) would first copy the 45,000 x 6,400 features into its sparse format (4.6 GB).
    return _pipeline(_bovw(), _linear("squared_hinge"))


@_register("bovw-mlp", "bag of visual words (Coates et al., 1,600 words) -> NumPy MLP")
def _bovw_mlp():
    return _pipeline(_bovw(), _mlp())
