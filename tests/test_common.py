"""API conformance of every image extractor.

scikit-learn's ``check_estimator`` skips estimators whose input is not a 2-D table, so the
data-free checks are called directly and the image checks are written here, one table for all
extractors.
"""

import pickle
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks

import features
from features import HOG, BagOfVisualWords, ColorHistogram, RawPixels

from ._numerics import bovw_atol, float32_atol

# (estimator, images it can take): each extractor appears with a small fast configuration.
# (each from a generator of its own: no state shared across the module)
_COLOUR = np.random.default_rng(0).integers(0, 256, size=(6, 24, 20, 3), dtype=np.uint8)
_GREY = np.random.default_rng(1).integers(0, 256, size=(6, 24, 20), dtype=np.uint8)

CASES = [
    (RawPixels(), _COLOUR),
    (RawPixels(grey=True, size=(12, 10)), _COLOUR),
    (HOG(pixels_per_cell=(4, 4), cells_per_block=(2, 2)), _GREY),
    (HOG(pixels_per_cell=(6, 5), cells_per_block=(1, 1)), _COLOUR),
    (ColorHistogram(bins=4, grid=(2, 2)), _COLOUR),
    (ColorHistogram(bins=(3, 4, 5), mode="marginal", color_space="lab"), _COLOUR),
    (BagOfVisualWords(n_words=8, n_training_patches=500, random_state=0), _COLOUR),
]
IDS = [repr(est).replace("\n", "").replace(" ", "") for est, _ in CASES]


def test_every_extractor_is_in_the_table():
    exported = {
        name
        for name in features.__all__
        if isinstance(getattr(features, name), type) and name != "BaseImageTransformer"
    }
    assert exported == {type(est).__name__ for est, _ in CASES}


def _assert_same_features(est, images, actual, desired):
    """Exact where the code is exact; within float32 rounding where it is not.

    The bag of visual words goes through float32 matrix products, whose rounding depends on
    how the BLAS blocks them, and so on the batch's shape and the CPU's kernel. RawPixels
    resizes and converts float32 images with OpenCV, whose SIMD paths round a plane
    differently when it is resized beside 2 or 3 others (the planes of a chunk go 4 to a
    call): a sum of the area's pixels and of 3 weighted channels, of values in [0, 1]
    (tests/_numerics).
    """
    if isinstance(est, BagOfVisualWords):
        atol = bovw_atol(est, desired)
    elif isinstance(est, RawPixels) and (est.size is not None or est.grey):
        rows, cols = est.size or images.shape[1:3]
        area = (-(-images.shape[1] // rows) + 1) * (-(-images.shape[2] // cols) + 1)
        atol = float32_atol(area + 3, 1.0)
    else:  # the HOG and colour kernels, and plain RawPixels, are exact
        np.testing.assert_array_equal(actual, desired)
        return
    np.testing.assert_allclose(actual, desired, rtol=0, atol=atol)


DATA_FREE_CHECKS = [
    estimator_checks.check_no_attributes_set_in_init,
    estimator_checks.check_get_params_invariance,
    estimator_checks.check_set_params,
    estimator_checks.check_estimator_repr,
    estimator_checks.check_estimator_cloneable,
    estimator_checks.check_parameters_default_constructible,
    estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
]


@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_sklearn_data_free_checks(estimator, images, check):
    check(type(estimator).__name__, clone(estimator))


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_unfitted_transform_raises(estimator, images):
    with pytest.raises(NotFittedError):
        clone(estimator).transform(images)
    with pytest.raises(NotFittedError):
        clone(estimator).get_feature_names_out()


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_shape_mismatch_message(estimator, images):
    est = clone(estimator).fit(images)
    if getattr(est, "size", None) is not None:
        pytest.skip("resizing makes every shape acceptable")
    other = images[:, :-2, :-2]
    expected_shape = (images.shape[1] - 2, images.shape[2] - 2) + est.image_shape_[2:]
    msg = (
        f"{type(est).__name__} was fitted on images of shape {est.image_shape_}; "
        f"got images of shape {expected_shape}."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        est.transform(other)


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_uint8_and_float_agree(estimator, images):
    as_uint8 = clone(estimator).fit_transform(images)
    as_float = clone(estimator).fit_transform(images.astype(np.float64) / 255)
    # HOG keeps scikit-image's scale dependence (eps is added to 0-255 or 0-1 data), so the two
    # agree closely but not to the last digit.
    np.testing.assert_allclose(as_uint8, as_float, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_output_is_float32_and_finite(estimator, images):
    for batch in (images, images.astype(np.float32) / 255, images.astype(np.uint16) * 257):
        out = clone(estimator).fit_transform(batch)
        assert out.dtype == np.float32
        assert out.shape[0] == len(images)
        assert np.isfinite(out).all()


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_pickle_round_trip(estimator, images):
    est = clone(estimator).fit(images)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.transform(images), est.transform(images))


@pytest.mark.blas
@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_batch_equals_per_image(estimator, images):
    est = clone(estimator).fit(images)
    whole = est.transform(images)
    one_by_one = np.concatenate([est.transform(images[i : i + 1]) for i in range(len(images))])
    _assert_same_features(est, images, one_by_one, whole)


@pytest.mark.blas
@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_chunk_size_does_not_change_result(estimator, images):
    reference = clone(estimator).fit(images).transform(images)
    for chunk_size in (1, 4, len(images) + 3):
        est = clone(estimator).set_params(chunk_size=chunk_size).fit(images)
        _assert_same_features(est, images, est.transform(images), reference)


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_list_input_equals_array_input(estimator, images):
    est = clone(estimator).fit(images)
    np.testing.assert_array_equal(est.transform(list(images)), est.transform(images))


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_fit_is_idempotent(estimator, images):
    est = clone(estimator)
    first = est.fit(images).transform(images)
    second = est.fit(images).transform(images)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_feature_names(estimator, images):
    est = clone(estimator).fit(images)
    names = est.get_feature_names_out()
    assert names.shape == (est.transform(images[:1]).shape[1],) == (est.n_features_out_,)
    assert len(set(names)) == len(names)
    prefix = type(est).__name__.lower() + "_"
    assert all(name.startswith(prefix) for name in names)


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_set_output_pandas(estimator, images):
    pd = pytest.importorskip("pandas")
    est = clone(estimator).set_output(transform="pandas")
    frame = est.fit_transform(images)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(est.get_feature_names_out())
    np.testing.assert_allclose(frame.to_numpy(), clone(estimator).fit_transform(images))


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_constraints_cover_exactly_the_parameters(estimator, images):
    assert set(type(estimator)._parameter_constraints) == set(estimator.get_params())


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_clone_gives_an_unfitted_equal_estimator(estimator, images):
    fitted = clone(estimator).fit(images)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "n_features_out_")


@pytest.mark.parametrize(("estimator", "images"), CASES, ids=IDS)
def test_bad_input_is_rejected_clearly(estimator, images):
    name = type(estimator).__name__
    est = clone(estimator)
    with pytest.raises(ValueError, match=re.escape(f"{name} got an empty batch of images")):
        est.fit(images[:0])
    with pytest.raises(ValueError, match=re.escape(f"{name} expects images of shape")):
        est.fit(images.reshape(len(images), -1))
    bad = images.astype(np.float64) / 255
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=re.escape(f"{name} got images containing NaN")):
        est.fit_transform(bad)
