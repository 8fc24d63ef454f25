"""ColorHistogram and its pure functions: exact counts against NumPy, ranges, errors, names."""

import re

import cv2
import numpy as np
import pytest
import skimage.data
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from features.color import (
    COLOR_SPACES,
    ColorHistogram,
    bin_lookup_tables,
    color_histogram,
    convert_color,
    grid_cell_map,
)

from ._oracles import color_histogram_reference

RGB_RANGES = [(0, 256)] * 3


def _cells(image, grid):
    """The cells of one image, row-major, split with np.array_split (the documented rule)."""
    return [
        cell
        for band in np.array_split(image, grid[0], axis=0)
        for cell in np.array_split(band, grid[1], axis=1)
    ]


def _numpy_joint(image, bins, grid, ranges=RGB_RANGES):
    return np.concatenate(
        [
            np.histogramdd(cell.reshape(-1, 3), bins=bins, range=ranges)[0].ravel()
            for cell in _cells(image, grid)
        ]
    )


def _numpy_marginal(image, bins, grid):
    bins = (bins,) * 3 if np.ndim(bins) == 0 else bins
    return np.concatenate(
        [
            np.histogram(cell[..., c], bins=bins[c], range=(0, 256))[0]
            for cell in _cells(image, grid)
            for c in range(3)
        ]
    )


def _random_images(rng, n=4):
    rows, cols = rng.integers(3, 40, size=2)
    return rng.integers(0, 256, size=(n, rows, cols, 3), dtype=np.uint8)


def _real_images():
    """Crops of odd shapes from skimage's colour pictures, one batch per crop shape."""
    pictures = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    pictures += [skimage.data.rocket(), skimage.data.immunohistochemistry()]
    batches = []
    for rows, cols, step in [(37, 53, 97), (64, 64, 131), (101, 29, 61)]:
        crops = [
            picture[r : r + rows, c : c + cols, :3]
            for picture in pictures
            for r in range(0, picture.shape[0] - rows, step * 2)
            for c in range(0, picture.shape[1] - cols, step * 3)
        ]
        batches.append(np.stack(crops))
    return batches


REAL = _real_images()


# -- exactness against NumPy --------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bins", [1, 3, 7, 8, (5, 2, 9), 13])
def test_rgb_joint_equals_histogramdd_random(seed, bins):
    rng = np.random.default_rng(seed)
    images = _random_images(rng)
    grid = tuple(int(g) for g in rng.integers(1, 4, size=2))
    hist = ColorHistogram(bins=bins, color_space="rgb", grid=grid, normalize=None)
    features = hist.fit_transform(images)
    for image, row in zip(images, features):
        assert_array_equal(row, _numpy_joint(image, bins, grid))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bins", [1, 6, 7, 16, (3, 256, 11), 200])
def test_rgb_marginal_equals_histogram_random(seed, bins):
    rng = np.random.default_rng(100 + seed)
    images = _random_images(rng)
    grid = tuple(int(g) for g in rng.integers(1, 4, size=2))
    hist = ColorHistogram(bins=bins, color_space="rgb", mode="marginal", grid=grid, normalize=None)
    features = hist.fit_transform(images)
    for image, row in zip(images, features):
        assert_array_equal(row, _numpy_marginal(image, bins, grid))


@pytest.mark.parametrize("batch", REAL, ids=lambda b: "x".join(map(str, b.shape)))
@pytest.mark.parametrize("bins, grid", [(7, (1, 1)), (8, (3, 2)), ((6, 5, 3), (2, 5))])
def test_rgb_equals_numpy_on_real_images(batch, bins, grid):
    joint = ColorHistogram(bins=bins, color_space="rgb", grid=grid, normalize=None)
    marginal = ColorHistogram(
        bins=bins, color_space="rgb", mode="marginal", grid=grid, normalize=None
    )
    joint_features = joint.fit_transform(batch)
    marginal_features = marginal.fit_transform(batch)
    for image, joint_row, marginal_row in zip(batch, joint_features, marginal_features):
        assert_array_equal(joint_row, _numpy_joint(image, bins, grid))
        assert_array_equal(marginal_row, _numpy_marginal(image, bins, grid))


def test_hsv_joint_equals_histogramdd_over_true_ranges():
    # hue bins over [0, 180): OpenCV's 8-bit hue is H / 2
    batch = REAL[0]
    hist = ColorHistogram(bins=(7, 5, 3), color_space="hsv", grid=(2, 3), normalize=None)
    features = hist.fit_transform(batch)
    ranges = [(0, 180), (0, 256), (0, 256)]
    for image, row in zip(batch, features):
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        assert_array_equal(row, _numpy_joint(hsv, (7, 5, 3), (2, 3), ranges))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_images_bin_as_their_uint8_equivalents(dtype):
    batch = REAL[1]
    floats = batch.astype(dtype) / dtype(255)
    for space in ["rgb", "hsv", "grey"]:
        hist = ColorHistogram(bins=7, color_space=space, grid=(2, 2), normalize=None)
        assert_array_equal(hist.fit_transform(floats), hist.fit_transform(batch))


@pytest.mark.parametrize("n_bins", [1, 2, 3, 7, 10, 100, 179, 255, 256, 300])
@pytest.mark.parametrize("low, high", [(0, 256), (0, 180), (42, 227)])
def test_lookup_tables_follow_np_histogram_edges(n_bins, low, high):
    # Both the tables and np.histogram are monotone in the value, so equal counts of every
    # value in [low, high) mean equal bins for every value.
    values = np.arange(low, high)
    table = bin_lookup_tables([n_bins], [(low, high)])[0]
    expected = np.histogram(values, bins=n_bins, range=(low, high))[0]
    assert_array_equal(np.bincount(table[values], minlength=n_bins), expected)
    assert table[:low].max(initial=0) == 0  # below the range: first bin
    assert (table[high:] == n_bins - 1).all()  # above it: last bin


# -- the fast kernel against the NumPy reference ----------------------------------------------
@pytest.mark.parametrize("space", list(COLOR_SPACES))
@pytest.mark.parametrize("mode", ["joint", "marginal"])
@pytest.mark.parametrize("normalize", [None, "l1", "l2"])
def test_kernel_equals_reference_exactly(space, mode, normalize):
    rng = np.random.default_rng(7)
    images = convert_color(_random_images(rng, n=5), space)
    params = dict(
        bins=5, ranges=COLOR_SPACES[space]["ranges"], mode=mode, grid=(3, 2), normalize=normalize
    )
    fast = color_histogram(images, **params)
    reference = color_histogram_reference(images, **params)
    assert fast.dtype == reference.dtype == np.float32
    assert_array_equal(fast, reference)  # same norms (exact in float64), same float32 division


@settings(max_examples=40, deadline=None)
@given(
    images=arrays(
        np.uint8,
        st.tuples(
            st.integers(1, 3), st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3])
        ),
    ),
    bins=st.integers(1, 9),
    grid=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    mode=st.sampled_from(["joint", "marginal"]),
)
def test_mass_equals_pixel_count(images, bins, grid, mode):
    rows, cols, channels = images.shape[1:]
    grid = (min(grid[0], rows), min(grid[1], cols))
    ranges = [(0, 256)] * channels
    counts = color_histogram(images, bins=bins, ranges=ranges, mode=mode, grid=grid)
    per_cell = counts.reshape(len(images), grid[0] * grid[1], -1).sum(axis=2)
    cell_sizes = np.bincount(grid_cell_map(rows, cols, grid).ravel())
    votes = channels if mode == "marginal" else 1
    assert_array_equal(per_cell, np.broadcast_to(cell_sizes * votes, per_cell.shape))
    for normalize, order in [("l1", 1), ("l2", 2)]:
        scaled = color_histogram(
            images, bins=bins, ranges=ranges, mode=mode, grid=grid, normalize=normalize
        )
        norms = np.linalg.norm(
            scaled.reshape(len(images), -1, counts.shape[1] // len(cell_sizes)), ord=order, axis=2
        )
        assert_allclose(norms, 1, rtol=1e-5)


@pytest.mark.parametrize("rows, gy", [(7, 3), (9, 9), (32, 5), (10, 1)])
def test_grid_cells_split_like_array_split(rows, gy):
    cell_map = grid_cell_map(rows, 11, (gy, 4))
    for cell, part in enumerate(_cells(np.arange(rows * 11).reshape(rows, 11), (gy, 4))):
        assert_array_equal(np.flatnonzero(cell_map.ravel() == cell), np.sort(part.ravel()))


# -- colour spaces ------------------------------------------------------------------------------
def test_channel_ranges_hold_every_srgb_colour():
    # 52 levels per channel, 0 and 255 included: the gamut's extremes lie on the cube's corners.
    levels = np.arange(0, 256, 5)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1)
    rgb = cube.astype(np.uint8).reshape(1, -1, 1, 3)
    for space, spec in COLOR_SPACES.items():
        converted = convert_color(rgb, space)
        converted = converted[..., None] if converted.ndim == 3 else converted
        for c, (low, high) in enumerate(spec["ranges"]):
            channel = converted[..., c]
            assert low <= channel.min() and channel.max() < high, (space, c)
    lab = convert_color(rgb, "lab").reshape(-1, 3)
    tight = [(int(lab[:, c].min()), int(lab[:, c].max()) + 1) for c in range(3)]
    assert tight == list(COLOR_SPACES["lab"]["ranges"])


def test_batch_conversion_equals_per_image_conversion():
    batch = REAL[2]
    for space, code in [
        ("hsv", cv2.COLOR_RGB2HSV),
        ("lab", cv2.COLOR_RGB2LAB),
        ("ycrcb", cv2.COLOR_RGB2YCrCb),
        ("grey", cv2.COLOR_RGB2GRAY),
    ]:
        expected = np.stack([cv2.cvtColor(image, code) for image in batch])
        assert_array_equal(convert_color(batch, space), expected)


def test_grey_accepts_grey_and_colour_images():
    colour = REAL[0]
    grey = np.stack([cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in colour])
    hist = ColorHistogram(bins=16, color_space="grey", grid=(2, 2), normalize=None)
    from_grey = hist.fit_transform(grey)
    assert_array_equal(hist.fit_transform(colour), from_grey)
    for image, row in zip(grey, from_grey):
        expected = [np.histogram(cell, 16, (0, 256))[0] for cell in _cells(image, (2, 2))]
        assert_array_equal(row, np.concatenate(expected))


def test_digits_float_grey_images():
    from sklearn.datasets import load_digits

    images = (load_digits().images / 16).astype(np.float32)
    features = ColorHistogram(bins=4, color_space="grey", grid=(2, 2)).fit_transform(images)
    assert features.shape == (len(images), 16)
    assert_allclose(features.reshape(-1, 4, 4).sum(axis=2), 1, rtol=1e-6)


# -- names, sizes ------------------------------------------------------------------------------
def test_feature_names_follow_the_layout():
    image = np.zeros((1, 4, 6, 3), dtype=np.uint8)
    image[0, 2:, 3:] = (255, 200, 0)  # bottom-right cell only: R bin 2, G bin 1, B bin 0
    hist = ColorHistogram(bins=(3, 2, 4), color_space="rgb", grid=(2, 2)).fit(image)
    names = hist.get_feature_names_out()
    assert len(names) == hist.n_features_out_ == 4 * 24
    assert names[0] == "colorhistogram_cell0_0_R0_G0_B0"
    assert names[1] == "colorhistogram_cell0_0_R0_G0_B1"
    row = hist.transform(image)[0]
    assert names[row == 1].tolist()[-1] == "colorhistogram_cell1_1_R2_G1_B0"

    marginal = ColorHistogram(bins=(3, 2, 4), color_space="lab", mode="marginal", grid=(1, 2))
    names = marginal.fit(image).get_feature_names_out()
    assert len(names) == marginal.n_features_out_ == 2 * 9
    assert names[:4].tolist() == [
        "colorhistogram_cell0_0_L0",
        "colorhistogram_cell0_0_L1",
        "colorhistogram_cell0_0_L2",
        "colorhistogram_cell0_0_a0",
    ]
    assert names[-1] == "colorhistogram_cell0_1_b3"


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, message",
    [
        (
            dict(bins=0),
            "The 'bins' parameter of ColorHistogram must be an int in the range [1, inf), an "
            "instance of 'tuple' or an instance of 'list'. Got 0 instead.",
        ),
        (
            dict(bins=(8, 8)),
            "The 'bins' parameter of ColorHistogram must be an int in the range [1, inf) or a "
            "tuple of 3 such ints (one per channel of 'hsv'). Got (8, 8) instead.",
        ),
        (
            dict(bins=(8, 0, 8), color_space="lab"),
            "The 'bins' parameter of ColorHistogram must be an int in the range [1, inf) or a "
            "tuple of 3 such ints (one per channel of 'lab'). Got (8, 0, 8) instead.",
        ),
        (
            dict(bins=(8, 8, 8), color_space="grey"),
            "The 'bins' parameter of ColorHistogram must be an int in the range [1, inf) or a "
            "tuple of 1 such ints (one per channel of 'grey'). Got (8, 8, 8) instead.",
        ),
        (
            dict(grid=(0, 2)),
            "The 'grid' parameter of ColorHistogram must be an int or a pair of ints (rows, "
            "cols), each >= 1. Got (0, 2) instead.",
        ),
        (
            dict(grid=(4, 7)),
            "Images of shape (5, 6) are too small for grid=(4, 7): need at least 4 rows and 7 "
            "cols.",
        ),
        (
            dict(color_space="hls"),
            "The 'color_space' parameter of ColorHistogram must be a str among",
        ),
        (
            dict(normalize="max"),
            "The 'normalize' parameter of ColorHistogram must be a str among",
        ),
    ],
)
def test_bad_parameters_raise_clear_errors(params, message):
    images = np.zeros((2, 5, 6, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=re.escape(message)):
        ColorHistogram(**params).fit(images)


def test_grey_images_with_a_colour_space_raise():
    message = (
        "ColorHistogram needs colour images with 3 channels (RGB); got grey images of shape (5, 6)."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        ColorHistogram(color_space="hsv").fit(np.zeros((2, 5, 6), dtype=np.uint8))


def test_pure_function_checks_grid_and_ranges():
    images = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=re.escape("too small for grid=(3, 1)")):
        color_histogram(images, bins=2, ranges=RGB_RANGES, grid=(3, 1))
    with pytest.raises(ValueError, match=re.escape("Expected 3 value ranges")):
        color_histogram(images, bins=2, ranges=RGB_RANGES[:1])


@pytest.mark.parametrize("channels", [2, 4])
@pytest.mark.parametrize("mode", ["joint", "marginal"])
def test_kernel_handles_any_channel_count(channels, mode):
    images = np.random.default_rng(3).integers(0, 256, size=(3, 9, 7, channels), dtype=np.uint8)
    params = dict(bins=3, ranges=[(0, 256)] * channels, mode=mode, grid=(2, 3), normalize="l2")
    assert_array_equal(
        color_histogram(images, **params), color_histogram_reference(images, **params)
    )
