"""The old spellings of grey still work for one release, with a FutureWarning each."""

import re

import cv2
import numpy as np
import pytest

from features import ColorHistogram, RawPixels
from pipelines.datasets import decode_image, decode_images, load_image_folder, load_split


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (4, 12, 10, 3), dtype=np.uint8)


def test_rawpixels_grayscale(images):
    message = (
        "RawPixels(grayscale=...) is deprecated and will be removed in the next release; "
        "use grey=... instead."
    )
    with pytest.warns(FutureWarning, match=re.escape(message)):
        old = RawPixels(grayscale=True).fit_transform(images)
    new = RawPixels(grey=True).fit_transform(images)
    np.testing.assert_array_equal(old, new)
    assert new.shape == (4, 120)  # grey: one value per pixel


def test_color_histogram_gray(images):
    message = (
        "ColorHistogram(color_space='gray') is deprecated and will be removed in the next "
        "release; use 'grey' instead."
    )
    with pytest.warns(FutureWarning, match=re.escape(message)):
        old = ColorHistogram(color_space="gray", bins=4).fit(images)
    new = ColorHistogram(color_space="grey", bins=4).fit(images)
    np.testing.assert_array_equal(old.transform(images), new.transform(images))
    assert list(old.get_feature_names_out()) == list(new.get_feature_names_out())


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("a/1.png", "a/2.png", "b/1.png", "b/2.png", "b/3.png"):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 256, (9, 7, 3), dtype=np.uint8))
    return tmp_path


@pytest.mark.parametrize(
    ("owner", "call"),
    [
        ("decode_image", lambda root, **k: [decode_image(root / "a" / "1.png", **k)]),
        ("decode_images", lambda root, **k: decode_images([str(root / "a" / "1.png")], **k)[0]),
        ("load_image_folder", lambda root, **k: load_image_folder(root, **k).images),
        ("load_split", lambda root, **k: load_split(root, test_size=0.4, **k)[0].images),
    ],
)
def test_decoding_grayscale(folder, owner, call):
    message = (
        f"{owner}(grayscale=...) is deprecated and will be removed in the next release; "
        "use grey=... instead."
    )
    with pytest.warns(FutureWarning, match=re.escape(message)):
        old = call(folder, grayscale=True)
    new = call(folder, grey=True)
    assert all(image.shape == (9, 7) for image in new)
    np.testing.assert_array_equal(np.stack(old), np.stack(new))
