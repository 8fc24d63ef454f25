"""Tests of features.bovw: kernels against NumPy references, whitening, pooling, the estimator."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import pairwise_distances_argmin

from features import _bovw_kernels as kernels
from features.bovw import (
    CONTRAST_EPS,
    BagOfVisualWords,
    encode_pool,
    extract_patches,
    fit_whitening,
    normalize_patches,
    pooling_cells,
)

from ._numerics import bovw_atol, float32_atol
from ._oracles import encode_reference, pool_reference

pytestmark = pytest.mark.blas

ENCODINGS = ["triangle", "hard", "soft", "vlad"]
POOLINGS = {"global": (1,), "quadrants": (2,), "pyramid": (1, 2, 4)}


def _images(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _reference_features(model, images):
    """The whole transform with the NumPy reference functions, in float64."""
    x = images.astype(np.float64) / 255.0
    patches = extract_patches(x, model.patch_size, model.stride)
    if model.normalize_patches:
        patches = normalize_patches(patches, model.contrast_eps / 255**2)
    m, grid_rows, grid_cols, d = patches.shape
    flat = patches.reshape(-1, d)
    if model.whiten:
        flat = (flat - model.descriptor_mean_) @ model.whitening_
    codes = encode_reference(flat, model.codebook_.astype(np.float64), model.encoding, model.sigma_)
    return pool_reference(codes.reshape(m, grid_rows, grid_cols, -1), POOLINGS[model.pooling])


# -- descriptors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "patch_size", "stride"),
    [((3, 11, 9, 3), 6, 1), ((2, 13, 10), 4, 3), ((1, 7, 7, 3), 7, 2), ((2, 9, 12), 1, 2)],
)
@pytest.mark.parametrize("normalize", [False, True])
def test_patch_kernel_matches_numpy(shape, patch_size, stride, normalize):
    images = _images(shape).astype(np.float32) / 255
    expected = extract_patches(images, patch_size, stride)
    if normalize:
        expected = normalize_patches(expected.astype(np.float64), CONTRAST_EPS)
    batch = images if images.ndim == 4 else images[..., None]
    out = np.empty((int(np.prod(expected.shape[:3])), expected.shape[3]), np.float32)
    kernels.extract_patches_normalized(
        batch, patch_size, stride, np.float32(CONTRAST_EPS), normalize, out
    )
    assert_allclose(out, expected.reshape(out.shape), rtol=1e-4, atol=1e-4)


def test_extract_patches_order_is_row_col_channel():
    images = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    patches = extract_patches(images, 2, 2)
    assert patches.shape == (2, 2, 2, 12)
    assert_array_equal(patches[1, 1, 0], images[1, 2:4, 0:2].ravel())


# -- whitening -------------------------------------------------------------------------------
def test_whitening_gives_identity_covariance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 6)) @ rng.normal(size=(6, 6)) + 3.0
    mean, w = fit_whitening(x, 0.0)
    assert_allclose(np.cov((x - mean) @ w, rowvar=False), np.eye(6), atol=1e-8)
    assert_allclose(w, w.T)


def test_regularised_whitening_has_expected_covariance():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 5)) * [0.1, 0.5, 1.0, 2.0, 4.0]
    eps = 0.3
    mean, w = fit_whitening(x, eps)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    expected = (vectors * (values / (values + eps))) @ vectors.T
    assert_allclose(np.cov((x - mean) @ w, rowvar=False), expected, atol=1e-10)


def test_whitening_zeroes_null_directions():
    x = normalize_patches(np.random.default_rng(3).normal(size=(500, 8)), 0.0)
    mean, w = fit_whitening(x, 0.0)  # rows sum to 0: the constant direction has variance 0
    covariance = np.cov((x - mean) @ w, rowvar=False)
    projector = np.eye(8) - 1.0 / 8
    assert_allclose(covariance, projector, atol=1e-8)


def test_estimator_whitens_its_training_patches():
    images = _images((6, 8, 8, 3), seed=4)
    model = BagOfVisualWords(
        patch_size=3, n_words=4, whiten_eps=0.0, normalize_patches=False, random_state=0
    ).fit(images)  # 6 * 36 = 216 training patches: all of them
    patches = extract_patches(images / 255.0, 3).reshape(-1, 27)
    white = (patches - model.descriptor_mean_) @ model.whitening_
    assert_allclose(np.cov(white, rowvar=False), np.eye(27), atol=1e-8)
    # float32 whitening against float64: a product of length 27 of values of the scale of
    # |patch| * |whitening|, plus the rounding of the float32 inputs themselves
    scale = np.abs(patches).sum(axis=1).max() * np.abs(model.whitening_).max()
    assert_allclose(
        model._whiten(patches.astype(np.float32)), white, atol=float32_atol(27 + 1, scale)
    )


# -- encoding and pooling --------------------------------------------------------------------
def test_hard_assignment_equals_pairwise_distances_argmin():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 27)).astype(np.float32)
    codebook = rng.normal(size=(97, 27)).astype(np.float32)
    # one descriptor per "image": each output row is its one-hot vote
    votes = encode_pool(x, codebook, "hard", np.zeros(1, np.intp), 1)[:, 0]
    assert_array_equal(votes.sum(axis=1), 1)
    assert_array_equal(votes.argmax(axis=1), pairwise_distances_argmin(x, codebook))


def test_estimator_hard_assignment_equals_pairwise_distances_argmin():
    images = _images((300, 5, 5, 3), seed=6)
    model = BagOfVisualWords(
        patch_size=5, n_words=20, encoding="hard", pooling="global", random_state=0
    ).fit(images)  # one patch per image
    eps = model.contrast_eps / 255**2
    patches = normalize_patches(extract_patches(images / 255.0, 5).reshape(300, -1), eps)
    white = (patches - model.descriptor_mean_) @ model.whitening_
    expected = pairwise_distances_argmin(white, model.codebook_.astype(np.float64))
    assert_array_equal(model.transform(images).argmax(axis=1), expected)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_encode_pool_equals_per_image_loop(encoding):
    rng = np.random.default_rng(7)
    m, grid, d, k, side = 3, (5, 4), 6, 7, 2
    cells = pooling_cells(grid, side)
    x = rng.normal(size=(m * len(cells), d)).astype(np.float32)
    codebook = rng.normal(size=(k, d)).astype(np.float32)
    pooled = encode_pool(x, codebook, encoding, cells, side * side, sigma=1.5)
    codes = encode_reference(x.astype(np.float64), codebook.astype(np.float64), encoding, 1.5)
    for image in range(m):
        own = codes[image * len(cells) : (image + 1) * len(cells)]
        for cell in range(side * side):
            expected = own[cells == cell].sum(axis=0)
            assert_allclose(pooled[image, cell], expected, rtol=1e-4, atol=1e-4)


def test_pool_reference_equals_per_image_loop():
    codes = np.random.default_rng(8).random((2, 7, 6, 3))
    pooled = pool_reference(codes, (1, 2, 4))
    assert pooled.shape == (2, (1 + 4 + 16) * 3)
    for image in range(2):
        parts = []
        for side in (1, 2, 4):
            for r in range(side):
                for c in range(side):
                    rows = [i for i in range(7) if i * side // 7 == r]
                    cols = [j for j in range(6) if j * side // 6 == c]
                    parts.append(codes[image][np.ix_(rows, cols)].sum(axis=(0, 1)))
        assert_allclose(pooled[image], np.concatenate(parts))


def test_quadrants_split_27_positions_as_coates():
    cells = pooling_cells((27, 27), 2).reshape(27, 27)
    assert (cells[:14, :14] == 0).all() and (cells[14:, 14:] == 3).all()
    assert (cells[13, 14:] == 1).all() and (cells[14, :14] == 2).all()


def test_triangle_example():
    words = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 2.0]])
    code = encode_reference(np.array([[0.0, 0.0]]), words, "triangle")
    assert_allclose(code, [[7 / 3, 0.0, 1 / 3]])


# -- estimator -------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("pooling", list(POOLINGS))
def test_transform_equals_numpy_reference(encoding, pooling):
    images = _images((7, 10, 9, 3), seed=9)
    model = BagOfVisualWords(
        patch_size=4, stride=2, n_words=5, encoding=encoding, pooling=pooling, random_state=0
    ).fit(images)
    features = model.transform(images)
    assert features.dtype == np.float32
    assert features.shape == (7, model.n_features_out_)
    assert len(model.get_feature_names_out()) == model.n_features_out_
    assert_allclose(features, _reference_features(model, images), rtol=1e-3, atol=2e-3)


def test_grey_images_and_options_without_normalisation():
    images = _images((9, 8, 8), seed=10)
    model = BagOfVisualWords(
        patch_size=3, n_words=6, normalize_patches=False, whiten=False, random_state=0
    ).fit(images)
    assert model.whitening_ is None and model.codebook_.shape == (6, 9)
    assert_allclose(model.transform(images), _reference_features(model, images), atol=1e-4)


def test_chunking_does_not_change_features():
    images = _images((11, 9, 9, 3), seed=11)
    model = BagOfVisualWords(patch_size=3, n_words=8, random_state=0).fit(images)
    whole = model.transform(images)
    atol = bovw_atol(model, whole)  # chunks change how the float32 products are blocked
    assert_allclose(model.set_params(chunk_size=3).transform(images), whole, rtol=0, atol=atol)
    assert_allclose(model.transform(images[4:5]), whole[4:5], rtol=0, atol=atol)


def test_random_state_makes_fit_reproducible():
    images = _images((10, 8, 8, 3), seed=12)
    params = {"patch_size": 3, "n_words": 5, "n_training_patches": 200, "random_state": 3}
    first = BagOfVisualWords(**params).fit(images).codebook_
    assert_array_equal(BagOfVisualWords(**params).fit(images).codebook_, first)


def test_feature_names_follow_cells_and_words():
    images = _images((4, 8, 8), seed=13)
    model = BagOfVisualWords(patch_size=3, n_words=2, pooling="pyramid", random_state=0)
    names = model.fit(images).get_feature_names_out()
    assert names[:3].tolist() == [
        "bagofvisualwords_g1_r0_c0_w0",
        "bagofvisualwords_g1_r0_c0_w1",
        "bagofvisualwords_g2_r0_c0_w0",
    ]
    assert names[-1] == "bagofvisualwords_g4_r3_c3_w1"


def test_digits_features_are_informative():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    train, test, y_train, y_test = train_test_split(
        images, digits.target, train_size=600, test_size=300, random_state=0
    )
    model = BagOfVisualWords(patch_size=4, n_words=30, random_state=0).fit(train)
    clf = RidgeClassifier().fit(model.transform(train), y_train)
    assert clf.score(model.transform(test), y_test) > 0.93


def test_sift_descriptors_on_a_dense_grid():
    import cv2
    from skimage.data import camera

    image = cv2.resize(camera(), (64, 64), interpolation=cv2.INTER_AREA)
    images = np.stack([image, image[::-1]])
    model = BagOfVisualWords(
        descriptor="sift",
        patch_size=16,
        stride=8,
        n_words=4,
        whiten=False,
        normalize_patches=False,
        random_state=0,
    ).fit(images)
    assert model.codebook_.shape == (4, 128)
    descriptors = model._descriptors(model._prepare(images))
    assert descriptors.shape == (2 * 7 * 7, 128)
    keypoints = [cv2.KeyPoint(8.0 * c + 8, 8.0 * r + 8, 16.0) for r in range(7) for c in range(7)]
    _, expected = cv2.SIFT_create().compute(images[1], keypoints)
    assert_allclose(descriptors[49:], expected)


# -- errors ----------------------------------------------------------------------------------
def test_too_few_descriptors_for_the_codebook():
    msg = (
        "BagOfVisualWords needs at least n_words=50 training descriptors; "
        "the 2 images have 18 positions."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        BagOfVisualWords(n_words=50).fit(_images((2, 8, 8)))


def test_images_smaller_than_a_patch():
    msg = "Images of shape (5, 5) are too small for patch_size=6: need at least 6 rows and 6 cols."
    with pytest.raises(ValueError, match=re.escape(msg)):
        BagOfVisualWords().fit(_images((3, 5, 5, 3)))


def test_parameter_validation_message():
    msg = "The 'encoding' parameter of BagOfVisualWords must be a str among"
    with pytest.raises(ValueError, match=re.escape(msg)):
        BagOfVisualWords(encoding="sparse").fit(_images((3, 8, 8)))


def test_shape_mismatch_at_transform():
    model = BagOfVisualWords(patch_size=3, n_words=4, random_state=0).fit(_images((4, 8, 8)))
    msg = "BagOfVisualWords was fitted on images of shape (8, 8); got images of shape (9, 8)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        model.transform(_images((2, 9, 8)))


def test_hog_descriptors_are_normalised_blocks_of_cells():
    from features.hog import hog_cell_histograms

    images = _images((3, 20, 16, 3), seed=14)
    model = BagOfVisualWords(
        descriptor="hog", patch_size=8, stride=4, n_words=5, random_state=0
    ).fit(images)
    assert model.codebook_.shape == (5, 2 * 2 * 9)
    descriptors = model._descriptors(model._prepare(images))
    cells = hog_cell_histograms(images / 255.0, orientations=9, pixels_per_cell=4)  # (3, 5, 4, 9)
    block = cells[1, 2:4, 1:3].ravel()  # image 1, grid position (2, 1)
    position = 1 * (4 * 3) + 2 * 3 + 1
    assert_allclose(descriptors[position], block / np.linalg.norm(block), rtol=1e-5)
    assert model.transform(images).shape == (3, 4 * 5)


def test_init_chooses_the_kmeans_start():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 12, 12, 3), dtype=np.uint8)
    settings = dict(n_words=16, n_training_patches=500, random_state=0)
    plus = BagOfVisualWords(**settings).fit(images)
    drawn = BagOfVisualWords(init="random", **settings).fit(images)
    again = BagOfVisualWords(init="random", **settings).fit(images)
    assert not np.allclose(plus.codebook_, drawn.codebook_)
    np.testing.assert_array_equal(drawn.codebook_, again.codebook_)  # seeded
    with pytest.raises(ValueError, match="init"):
        BagOfVisualWords(init="kmeans", **settings).fit(images)
