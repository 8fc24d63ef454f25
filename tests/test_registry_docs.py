"""What the README and the one-line descriptions say of the named pipelines is what they are.

The README's table of pipelines lists every registered name once, in the registry's order,
and each description (``describe``, shown by every command's ``--help``) names the features
and the classifier that ``make`` builds.
"""

import re
from pathlib import Path

import pytest

from pipelines import available, describe, make

README = Path(__file__).resolve().parents[1] / "README.md"

# words of a description -> (class name, a parameter that must have this value, or None)
FEATURES = {
    "raw pixels": ("RawPixels", None),
    "HOG": ("HOG", None),
    "HSV": ("ColorHistogram", ("color_space", "hsv")),
    "bag of visual words": ("BagOfVisualWords", None),
}
CLASSIFIERS = {
    "softmax regression": ("LinearClassifier", ("loss", "softmax")),
    "linear L2-SVM": ("LinearClassifier", ("loss", "squared_hinge")),
    "linear SVM": ("LinearClassifier", ("loss", "squared_hinge")),
    "L2-SVM": ("LinearClassifier", ("loss", "squared_hinge")),
    "NumPy MLP": ("NeuralNetClassifier", None),
    "sklearn MLPClassifier": ("MLPClassifier", None),
}


def _readme_names():
    """The names in the first column of the README's table of pipelines, in order."""
    text = README.read_text()
    table = text.split("| name | features | classifier |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)


def test_the_readme_lists_every_pipeline_in_order():
    assert _readme_names() == available()


def _extractors(step):
    parts = [e for _, e in step.transformer_list] if hasattr(step, "transformer_list") else [step]
    return {type(e).__name__: e for e in parts}


def _matches(found, estimator):
    class_name, param = found
    if type(estimator).__name__ != class_name:
        return False
    return param is None or estimator.get_params()[param[0]] == param[1]


@pytest.mark.parametrize("name", available())
def test_a_description_names_what_make_builds(name):
    features_text, *_, classifier_text = describe(name).split(" -> ")
    pipeline = make(name)
    extractors = _extractors(pipeline.named_steps["features"])
    named = {words: found for words, found in FEATURES.items() if words in features_text}
    assert {found[0] for found in named.values()} == set(extractors), name
    assert all(_matches(found, extractors[found[0]]) for found in named.values()), name
    # the longest phrase that the classifier part starts with
    phrases = [words for words in CLASSIFIERS if classifier_text.startswith(words)]
    assert phrases, (name, classifier_text)
    phrase = max(phrases, key=len)
    assert _matches(CLASSIFIERS[phrase], pipeline.named_steps["clf"]), name


def test_the_names_follow_features_then_classifier():
    # <features>-<classifier>: the features part names the extractors, the classifier part
    # the kind of classifier
    kinds = {"svm": "LinearClassifier", "softmax": "LinearClassifier", "mlp": None}
    for name in available():
        features, classifier = name.split("-", 1)
        pipeline = make(name)
        extractors = set(_extractors(pipeline.named_steps["features"]))
        wanted = {
            {
                "pixels": "RawPixels",
                "hog": "HOG",
                "color": "ColorHistogram",
                "bovw": "BagOfVisualWords",
            }[part]
            for part in features.split("+")
        }
        assert extractors == wanted, name
        kind = kinds[classifier.split("-")[0]]
        clf = type(pipeline.named_steps["clf"]).__name__
        if kind is not None:
            assert clf == kind, name
        else:
            assert clf == (
                "MLPClassifier" if classifier.endswith("sklearn") else "NeuralNetClassifier"
            )


def _hog_steps(name):
    step = make(name).named_steps["features"]
    return [e for e in _extractors(step).values() if type(e).__name__ == "HOG"]


def test_the_hog_of_each_pipeline_is_the_one_the_readme_describes():
    # every HOG is computed on images resized to 32x32 (so one set of cells fits digits and
    # CIFAR-10 alike), with 9 bins; the cells and blocks are those of the README's table
    text = README.read_text()
    rows = dict(re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", text, flags=re.M))
    for name in available():
        for hog in _hog_steps(name):
            assert (hog.size, hog.orientations) == ((32, 32), 9), name
            described = rows[name]
            if "cells" not in described:  # "the same HOG", "HOG + HSV grid histograms"
                described = rows[name.rsplit("-", 1)[0] + "-svm"]
            cells = re.search(r"(\d+)x(\d+)(?:-pixel)? cells", described).groups()
            blocks = re.search(r"(\d+)x(\d+) blocks", described).groups()
            assert hog.pixels_per_cell == tuple(map(int, cells)), name
            assert hog.cells_per_block == tuple(map(int, blocks)), name
    assert sum(len(_hog_steps(name)) for name in available()) >= 4


def test_an_extractor_learns_from_images_exactly_when_the_registry_says_so():
    # EXTRACTORS[...].learns: batch extraction fits only those on a sample of the folder
    import numpy as np

    from pipelines.registry import EXTRACTORS, make_extractor

    rng = np.random.default_rng(0)
    first, second = rng.integers(0, 256, (2, 6, 24, 24, 3), dtype=np.uint8)
    probe = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    for name, entry in EXTRACTORS.items():
        params = (
            {"n_words": 4, "n_training_patches": 200, "random_state": 0} if entry.learns else {}
        )
        a = make_extractor(name, **params).fit(first).transform(probe)
        b = make_extractor(name, **params).fit(second).transform(probe)
        assert (not np.array_equal(a, b)) == entry.learns, name
