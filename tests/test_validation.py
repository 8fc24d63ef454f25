"""The image batch contract shared by every extractor (features/_validation.py)."""

import re

import cv2
import numpy as np
import pytest

from features import RawPixels
from features._validation import as_image_batch, check_pair, prepare_chunk


def _fit(images, **params):
    return RawPixels(**params).fit_transform(images)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((0, 4, 4)), "RawPixels got an empty batch of images (n = 0)."),
        ([], "RawPixels got an empty batch of images (an empty list)."),
        (
            np.zeros((64, 64)),
            "RawPixels expects images of shape (n, rows, cols[, channels]); "
            "got an array of shape (64, 64).",
        ),
        (
            np.zeros((2, 3, 4, 5, 6)),
            "RawPixels expects images of shape (n, rows, cols[, channels]); "
            "got an array of shape (2, 3, 4, 5, 6).",
        ),
        (
            np.zeros((2, 4, 4, 2), np.uint8),
            "RawPixels expects 1, 3 or 4 channels (grey, RGB, RGBA); "
            "got images of shape (4, 4, 2).",
        ),
        (
            np.zeros((2, 4, 4), np.int64),
            "RawPixels expects images of dtype uint8, uint16 or float (values in [0, 1]); "
            "got dtype int64.",
        ),
        (np.zeros((2, 4, 4), bool), "got dtype bool."),
        (np.full((2, 4, 4), np.inf), "RawPixels got images containing NaN or infinity."),
        (
            np.full((2, 4, 4), 255.0),
            "RawPixels expects float images with values in [0, 1]; got values in [255, 255].",
        ),
        (
            [np.zeros((4, 4)), np.zeros((5, 4))],
            "RawPixels got a list of images of different shapes ((4, 4), (5, 4)); "
            "give size=(rows, cols) to resize them to one shape.",
        ),
        (
            [np.zeros((4, 4), np.uint8), np.zeros((4, 4))],
            "RawPixels got a list of images of mixed dtypes: float64, uint8.",
        ),
        (
            [np.zeros((4, 4, 4, 4))],
            "RawPixels expects each image in a list to have shape (rows, cols[, channels]); "
            "image 0 has shape (4, 4, 4, 4).",
        ),
    ],
)
def test_bad_batches_get_a_clear_error(images, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit(images)


def test_not_an_array_is_a_type_error():
    with pytest.raises(TypeError, match="RawPixels expects images as an ndarray"):
        _fit("images")


def test_check_pair():
    assert check_pair(3, "size", "X") == (3, 3)
    assert check_pair([2, 5], "size", "X") == (2, 5)
    for bad in [(0, 3), (1, 2, 3), (1.5, 2), "ab", True, None]:
        msg = (
            "The 'size' parameter of X must be an int or a pair of ints (rows, cols), "
            f"each >= 1. Got {bad!r} instead."
        )
        with pytest.raises(ValueError, match=re.escape(msg)):
            check_pair(bad, "size", "X")


def test_alpha_is_dropped_and_single_channel_is_grey():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (3, 5, 6, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.zeros((3, 5, 6, 1), np.uint8)], axis=-1)
    np.testing.assert_array_equal(_fit(rgba), _fit(rgb))
    grey = rgb[..., :1]
    np.testing.assert_array_equal(_fit(grey), _fit(grey[..., 0]))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float16", "float32", "float64"])
def test_every_supported_dtype_maps_to_the_unit_interval(dtype):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 7, 5, 3), dtype=np.uint8)
    if dtype == "uint16":
        converted = images.astype(np.uint16) * 257
    elif dtype.startswith("float"):
        converted = (images / 255).astype(dtype)
    else:
        converted = images
    out = _fit(converted)
    atol = 1e-3 if dtype == "float16" else 1e-6
    np.testing.assert_allclose(out, images.reshape(4, -1) / 255, atol=atol)


def test_uint8_target_rounds_floats_and_uint16():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 7, 5, 3), dtype=np.uint8)
    for converted in (images / 255, images.astype(np.uint16) * 257):
        batch = as_image_batch(converted, owner="X")
        np.testing.assert_array_equal(prepare_chunk(batch, owner="X", dtype="uint8"), images)


def test_resize_matches_opencv_per_image():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (9, 13, 11, 3), dtype=np.uint8)
    for size in [(7, 5), (20, 31), (13, 4)]:
        ours = prepare_chunk(images, owner="X", size=size)
        shrinking = size[0] <= 13 and size[1] <= 11
        flag = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        expected = np.stack([cv2.resize(im, size[::-1], interpolation=flag) for im in images])
        np.testing.assert_array_equal(ours, expected)
    grey = images[..., 0]
    expected = np.stack([cv2.resize(im, (5, 7), interpolation=cv2.INTER_AREA) for im in grey])
    np.testing.assert_array_equal(prepare_chunk(grey, owner="X", size=(7, 5)), expected)


def test_grey_conversion_matches_opencv():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    expected = np.stack([cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in images])
    np.testing.assert_array_equal(prepare_chunk(images, owner="X", channels="grey"), expected)


def test_list_of_mixed_shapes_is_resized_with_size():
    rng = np.random.default_rng(1)
    images = [rng.random((9, 8)), rng.random((4, 4)), rng.random((6, 6))]
    out = RawPixels(size=(6, 6)).fit_transform(images)
    assert out.shape == (3, 36)
    np.testing.assert_allclose(out[2], images[2].ravel(), rtol=1e-6)


def test_rgb_mode_rejects_grey():
    from features._validation import output_image_shape

    msg = "X needs colour images with 3 channels (RGB); got grey images of shape (4, 4)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        output_image_shape((2, 4, 4), owner="X", channels="rgb")


def _extractors():
    from pipelines.registry import EXTRACTORS, make_extractor

    settings = {"bovw": {"n_words": 4, "n_training_patches": 200, "random_state": 0}}
    return {name: make_extractor(name, **settings.get(name, {})) for name in EXTRACTORS}


@pytest.mark.parametrize("name", ["pixels", "hog", "color", "bovw"])
@pytest.mark.parametrize("dtype", [">u2", ">f4", ">f8", ">f2"])
def test_big_endian_images_give_the_native_features(name, dtype):
    # Bytes of another byte order read as native numbers gave wrong features without an error
    # (RawPixels and ColorHistogram); every extractor now sees the values themselves.
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    native = images.astype(np.uint16) * 257 if "u" in dtype else (images / 255)
    native = native.astype(np.dtype(dtype).newbyteorder("="))
    swapped = native.astype(dtype)
    assert not swapped.dtype.isnative and np.array_equal(swapped, native)
    extractor = _extractors()[name]
    expected = extractor.fit(native).transform(native)
    np.testing.assert_array_equal(extractor.fit(swapped).transform(swapped), expected)
    as_list = [image for image in swapped]
    np.testing.assert_array_equal(extractor.transform(as_list), expected)


def test_big_endian_reaches_the_pure_functions_as_values():
    rng = np.random.default_rng(1)
    from features import hog_cell_histograms

    images = rng.integers(0, 65536, (2, 16, 16), dtype=np.uint16)
    swapped = images.astype(">u2")
    batch = as_image_batch(swapped, owner="X")
    assert batch.dtype == np.uint16 and batch.dtype.isnative
    np.testing.assert_array_equal(batch, images)
    np.testing.assert_array_equal(
        hog_cell_histograms(swapped, orientations=9, pixels_per_cell=(8, 8)),
        hog_cell_histograms(images, orientations=9, pixels_per_cell=(8, 8)),
    )
