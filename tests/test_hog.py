"""HOG against scikit-image (features, cell histograms, glyph picture) and its own reference."""

import re

import numpy as np
import pytest
import skimage.data
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from skimage.feature import _hoghistogram
from skimage.feature import hog as skimage_hog
from sklearn.utils._param_validation import InvalidParameterError

from features.hog import (
    HOG,
    hog_cell_histograms,
    hog_features,
    hog_image,
    min_image_shape,
    n_hog_features,
)

from ._oracles import hog_features_reference

TOL = 1e-5  # the bound on the max abs difference to skimage

# Five parameter sets covering every block norm, odd cells, non-square cells and blocks.
PARAM_SETS = [
    dict(orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3), block_norm="L2-Hys"),
    dict(orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2"),
    dict(orientations=7, pixels_per_cell=(5, 6), cells_per_block=(2, 3), block_norm="L1"),
    dict(
        orientations=12,
        pixels_per_cell=(4, 3),
        cells_per_block=(1, 2),
        block_norm="L1-sqrt",
        transform_sqrt=True,
    ),
    dict(orientations=4, pixels_per_cell=(7, 7), cells_per_block=(1, 1), block_norm="L2-Hys"),
]
PARAM_IDS = ["default", "l2-2x2", "l1-odd", "l1sqrt-sqrt", "hys-1x1"]


def _skimage_batch(images, **params):
    channel_axis = -1 if images.ndim == 4 else None
    return np.stack([skimage_hog(image, **params, channel_axis=channel_axis) for image in images])


def _as_dtype(images, dtype):
    """The same uint8 picture as uint8, uint16 (x 257) or float in [0, 1]."""
    if dtype == "uint8":
        return images
    if dtype == "uint16":
        return images.astype(np.uint16) * 257
    return (images / 255.0).astype(dtype)


def _photo_crops(rows, cols, colour):
    """Odd-sized crops of skimage's photographs, four per photograph."""
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    if not colour:
        photos = [skimage.data.camera(), skimage.data.moon(), skimage.data.coins()]
    crops = [
        photo[r : r + rows, c : c + cols]
        for photo in photos
        for r, c in [(0, 0), (101, 57), (173, 211), (29, 250)]
    ]
    return np.stack(crops)


# -- exactness on real images ---------------------------------------------------------------------
@pytest.mark.parametrize("params", PARAM_SETS, ids=PARAM_IDS)
@pytest.mark.parametrize("colour", [False, True], ids=["grey", "colour"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
def test_matches_skimage_on_photos(params, colour, dtype):
    images = _as_dtype(_photo_crops(45, 39, colour), dtype)
    got = HOG(**params).fit_transform(images)
    expected = _skimage_batch(images, **params)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOL


@pytest.mark.parametrize("params", PARAM_SETS, ids=PARAM_IDS)
def test_reference_matches_skimage(params):
    images = _photo_crops(37, 50, colour=True)
    expected = _skimage_batch(images, **params)
    assert np.abs(hog_features_reference(images, **params) - expected).max() <= TOL
    grey = _as_dtype(_photo_crops(37, 50, colour=False), "float64")
    expected = _skimage_batch(grey, **params)
    assert np.abs(hog_features_reference(grey, **params) - expected).max() <= TOL


def test_defaults_are_skimages():
    images = _photo_crops(64, 64, colour=False)
    assert_allclose(HOG().fit_transform(images), _skimage_batch(images), atol=TOL, rtol=0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    colour=st.booleans(),
    dtype=st.sampled_from(["uint8", "uint16", "float32", "float64"]),
    orientations=st.integers(1, 13),
    cell=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    block=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    extra=st.tuples(st.integers(0, 9), st.integers(0, 9)),
    block_norm=st.sampled_from(["L1", "L1-sqrt", "L2", "L2-Hys"]),
    transform_sqrt=st.booleans(),
    smooth=st.booleans(),
)
def test_random_images_and_parameters_match_skimage(
    seed, colour, dtype, orientations, cell, block, extra, block_norm, transform_sqrt, smooth
):
    rng = np.random.default_rng(seed)
    rows = cell[0] * block[0] + extra[0]
    cols = cell[1] * block[1] + extra[1]
    shape = (2, rows, cols, 3) if colour else (2, rows, cols)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    if smooth:  # few grey levels: flat areas, ties between channels, repeated gradients
        images = images // 64 * 64
    images = _as_dtype(images, dtype)
    params = dict(
        orientations=orientations,
        pixels_per_cell=cell,
        cells_per_block=block,
        block_norm=block_norm,
        transform_sqrt=transform_sqrt,
    )
    expected = _skimage_batch(images, **params)
    got = hog_features(images, **params)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOL
    assert_allclose(hog_features_reference(images, **params), expected, atol=TOL, rtol=0)


def test_orientation_of_exactly_180_degrees_is_in_no_bin():
    # g_row = -2**-54 (a tiny negative float), g_col = 0.5: rad2deg(arctan2) % 180 rounds to
    # 180.0, outside every half-open bin, so scikit-image drops that pixel's magnitude.
    image = np.full((8, 8), 0.5)
    image[:, 5] = 1.0
    image[5, 4] = 0.5 - 2.0**-54
    hist = hog_cell_histograms(image[None], orientations=9, pixels_per_cell=(8, 8))
    # Columns 4 and 6 have |g_col| = 0.5 on all 8 rows (orientation 0 or 180 % 180 = 0); the
    # pixel (4, 4) with g_row = -2**-54 is dropped: 15 votes of 0.5 instead of 16.
    assert_allclose(hist[0, 0, 0, 0], 15 * 0.5 / 64, rtol=1e-6)
    expected = skimage_hog(image, pixels_per_cell=(8, 8), cells_per_block=(1, 1))
    assert (
        np.abs(
            hog_features(image[None], pixels_per_cell=(8, 8), cells_per_block=(1, 1))[0] - expected
        ).max()
        <= TOL
    )


def test_colour_takes_the_channel_of_largest_magnitude_first_on_ties():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 2, size=(3, 16, 16, 3), dtype=np.uint8) * 100
    params = dict(pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    assert_allclose(hog_features(images, **params), _skimage_batch(images, **params), atol=TOL)
    # A single channel behaves as grey.
    grey = images[..., 0]
    assert_allclose(hog_features(images[..., :1], **params), hog_features(grey, **params))


# -- cell histograms -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_cell_histograms_equal_skimages_internal_histograms_bit_for_bit(dtype):
    images = _as_dtype(_photo_crops(41, 35, colour=False), dtype)
    cell = (6, 5)
    hist = hog_cell_histograms(images, orientations=9, pixels_per_cell=cell)
    assert hist.dtype == np.float32
    assert hist.shape == (len(images), 41 // 6, 35 // 5, 9)
    for image, got in zip(images, hist):
        work = image.astype(np.float32 if dtype == "float32" else np.float64)
        g_row = np.zeros_like(work)
        g_col = np.zeros_like(work)
        g_row[1:-1] = work[2:] - work[:-2]
        g_col[:, 1:-1] = work[:, 2:] - work[:, :-2]
        expected = np.zeros(got.shape, dtype=np.float64)
        _hoghistogram.hog_histograms(
            g_col.astype(np.float64),
            g_row.astype(np.float64),
            cell[1],
            cell[0],
            work.shape[1],
            work.shape[0],
            got.shape[1],
            got.shape[0],
            9,
            expected,
        )
        assert_array_equal(got, expected.astype(np.float32))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cell=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    orientations=st.integers(1, 10),
)
def test_cell_histogram_mass_is_the_mean_magnitude(seed, cell, orientations):
    rng = np.random.default_rng(seed)
    images = rng.random((3, 3 * cell[0] - 1, 4 * cell[1] - 1))  # partial last cells
    hist = hog_cell_histograms(images, orientations=orientations, pixels_per_cell=cell)
    g_row = np.zeros_like(images)
    g_col = np.zeros_like(images)
    g_row[:, 1:-1] = images[:, 2:] - images[:, :-2]
    g_col[:, :, 1:-1] = images[:, :, 2:] - images[:, :, :-2]
    magnitude = np.hypot(g_row, g_col)[:, : 2 * cell[0], : 3 * cell[1]]
    means = magnitude.reshape(3, 2, cell[0], 3, cell[1]).mean(axis=(2, 4))
    assert_allclose(hist.sum(axis=3), means, rtol=1e-5, atol=1e-7)


def test_cell_histogram_of_a_vertical_edge():
    images = np.zeros((1, 8, 16), dtype=np.uint8)
    images[:, :, 8:] = 255
    hist = hog_cell_histograms(images, orientations=6, pixels_per_cell=(8, 8))
    # cols 7 and 8 have g_col = 255 (orientation 0): one column of 8 pixels in each cell.
    assert_array_equal(hist[0, :, :, 0], [[255 * 8 / 64, 255 * 8 / 64]])
    assert_array_equal(hist[0, :, :, 1:], 0)


# -- fast path against the reference and consistency --------------------------------------------
def test_fast_equals_reference_on_a_batch_with_many_orientations():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 33, 29, 3), dtype=np.uint8)
    for orientations in (1, 2, 300):  # 255+ bins use the 16-bit bin table
        params = dict(orientations=orientations, pixels_per_cell=(5, 4), cells_per_block=(2, 2))
        assert_allclose(
            hog_features(images, **params, dtype=np.float64),
            hog_features_reference(images, **params),
            rtol=1e-6,
            atol=1e-9,
        )


def test_output_dtype_and_batch_equals_single_images():
    rng = np.random.default_rng(2)
    images = rng.random((4, 30, 26)).astype(np.float32)
    batch = hog_features(images, pixels_per_cell=(6, 6), cells_per_block=(2, 2), dtype=np.float64)
    assert batch.dtype == np.float64
    singles = [
        hog_features(image[None], pixels_per_cell=(6, 6), cells_per_block=(2, 2), dtype=np.float64)
        for image in images
    ]
    assert_array_equal(batch, np.concatenate(singles))


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 60),
    cols=st.integers(1, 60),
    cell=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    block=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    orientations=st.integers(1, 12),
)
def test_feature_length_follows_the_formula(rows, cols, cell, block, orientations):
    n_rows = rows // cell[0] - block[0] + 1
    n_cols = cols // cell[1] - block[1] + 1
    images = np.zeros((1, rows, cols), dtype=np.uint8)
    params = dict(orientations=orientations, pixels_per_cell=cell, cells_per_block=block)
    if n_rows < 1 or n_cols < 1:
        need = min_image_shape(cell, block)
        assert rows < need[0] or cols < need[1]
        with pytest.raises(ValueError, match="are too small for"):
            hog_features(images, **params)
        return
    n_features = n_rows * n_cols * block[0] * block[1] * orientations
    assert hog_features(images, **params).shape == (1, n_features)
    assert n_hog_features((rows, cols), **params) == n_features


# -- glyph picture ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "orientations"), [((8, 8), 9), ((7, 5), 6), ((16, 16), 12), ((2, 3), 4), ((1, 4), 5)]
)
def test_hog_image_matches_skimage_visualize(cell, orientations):
    image = skimage.data.astronaut()[100:171, 200:263]
    _, expected = skimage_hog(
        image,
        orientations=orientations,
        pixels_per_cell=cell,
        cells_per_block=(1, 1),
        visualize=True,
        channel_axis=-1,
    )
    got = hog_image(image, orientations=orientations, pixels_per_cell=cell)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


# -- the estimator ---------------------------------------------------------------------------------
def test_estimator_names_blocks_cells_and_bins():
    images = np.zeros((2, 24, 16), dtype=np.uint8)
    hog = HOG(orientations=3, pixels_per_cell=(8, 8), cells_per_block=(2, 1)).fit(images)
    names = hog.get_feature_names_out()
    assert len(names) == hog.n_features_out_ == 2 * 2 * 2 * 1 * 3
    assert names[:4].tolist() == [
        "hog_block0_0_cell0_0_bin0",
        "hog_block0_0_cell0_0_bin1",
        "hog_block0_0_cell0_0_bin2",
        "hog_block0_0_cell1_0_bin0",
    ]
    assert names[-1] == "hog_block1_1_cell2_1_bin2"


def test_estimator_resizes_lists_of_mixed_shapes():
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (r, c), dtype=np.uint8) for r, c in [(40, 30), (20, 20)]]
    hog = HOG(size=(32, 32), pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    out = hog.fit_transform(images)
    assert out.shape == (2, 7 * 7 * 4 * 9)
    assert hog.image_shape_ == (32, 32)


def test_chunks_do_not_change_the_result():
    images = _photo_crops(40, 40, colour=True)
    full = HOG(pixels_per_cell=(4, 4), cells_per_block=(2, 2)).fit_transform(images)
    chunked = HOG(pixels_per_cell=(4, 4), cells_per_block=(2, 2), chunk_size=5).fit_transform(
        images
    )
    assert_array_equal(full, chunked)


def test_too_small_images_error():
    msg = (
        "Images of shape (12, 30) are too small for pixels_per_cell=(8, 8) and "
        "cells_per_block=(3, 3): need at least 24 rows and 24 cols."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        HOG().fit(np.zeros((2, 12, 30), dtype=np.uint8))
    with pytest.raises(ValueError, match=re.escape(msg)):
        hog_features(np.zeros((2, 12, 30), dtype=np.uint8))


def test_parameter_errors():
    images = np.zeros((2, 24, 24), dtype=np.uint8)
    msg = (
        "The 'pixels_per_cell' parameter of HOG must be an int or a pair of ints (rows, cols), "
        "each >= 1. Got (8, 0) instead."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        HOG(pixels_per_cell=(8, 0)).fit(images)
    with pytest.raises(InvalidParameterError, match="'block_norm' parameter of HOG"):
        HOG(block_norm="L3").fit(images)
    with pytest.raises(InvalidParameterError, match="'orientations' parameter of HOG"):
        HOG(orientations=0).fit(images)
    with pytest.raises(ValueError, match=re.escape("'block_norm' parameter of hog_features")):
        hog_features(images, block_norm="l2")
    with pytest.raises(ValueError, match=re.escape("got an array of shape (24, 24)")):
        hog_features(images[0])
    with pytest.raises(ValueError, match=re.escape("got dtype int64")):
        hog_features(images.astype(np.int64))


# -- block_norm=None: the lecture's unnormalised cell histograms ----------------------------------
@pytest.mark.parametrize("colour", [False, True], ids=["grey", "colour"])
@pytest.mark.parametrize("dtype", ["uint8", "float64"])
def test_no_block_norm_gives_the_cell_histograms(colour, dtype):
    images = _as_dtype(_photo_crops(45, 39, colour), dtype)
    hog = HOG(orientations=7, pixels_per_cell=(5, 6), block_norm=None).fit(images)
    got = hog.transform(images)
    cells = hog_cell_histograms(images, orientations=7, pixels_per_cell=(5, 6))
    assert cells.shape == (12, 9, 6, 7)
    assert_array_equal(got, cells.reshape(12, -1))  # (cell row, cell col, bin) order
    assert hog.n_features_out_ == 9 * 6 * 7
    names = hog.get_feature_names_out()
    assert names[:2].tolist() == ["hog_cell0_0_bin0", "hog_cell0_0_bin1"]
    assert names[-1] == "hog_cell8_5_bin6"
    # not normalised: a brighter picture has proportionally larger histograms
    if dtype == "float64":
        assert_allclose(hog.transform(images * 0.5), got * 0.5, rtol=1e-6)
    wide = hog_features(
        images, orientations=7, pixels_per_cell=(5, 6), block_norm=None, dtype=np.float64
    )
    assert_allclose(wide, got, rtol=1e-6)  # float64 before the float32 rounding


def test_no_block_norm_needs_only_one_cell():
    images = np.zeros((2, 6, 6), dtype=np.uint8)
    assert HOG(pixels_per_cell=(6, 6), block_norm=None).fit_transform(images).shape == (2, 9)
    msg = (
        "Images of shape (5, 6) are too small for pixels_per_cell=(6, 6): need at least 6 "
        "rows and 6 cols."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        hog_features(images[:, :5], pixels_per_cell=(6, 6), block_norm=None)
