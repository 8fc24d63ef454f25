"""Loading images: digits, folders (with bad files), given splits and CIFAR-10 batches."""

import pickle
import re

import cv2
import numpy as np
import pytest

from pipelines import datasets
from pipelines.datasets import (
    DecodeError,
    decode_bytes,
    decode_image,
    load_cifar10,
    load_dataset,
    load_image_folder,
    load_split,
)


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(data.tobytes())


def _make_folder(root, classes=("cat", "dog", "eel"), per_class=4, shape=(12, 10, 3), seed=2):
    rng = np.random.default_rng(seed)
    images = {}
    for c in classes:
        for i in range(per_class):
            image = rng.integers(0, 256, shape, dtype=np.uint8)
            path = root / c / f"{i:02d}.png"
            _write(path, image)
            images[str(path)] = image
    return images


def test_digits():
    data = load_dataset("digits")
    assert data.images.shape == (1797, 8, 8) and data.images.dtype == np.float32
    assert 0 <= data.images.min() and data.images.max() == 1
    assert data.class_names == [str(i) for i in range(10)]
    assert len(data.paths) == len(data.labels) == 1797 and data.failures == []
    with pytest.raises(ValueError, match=re.escape("Unknown data set 'mnist'")):
        load_dataset("mnist")


def test_folder_round_trip(tmp_path):
    written = _make_folder(tmp_path)
    data = load_image_folder(tmp_path, n_jobs=2)
    assert data.class_names == ["cat", "dog", "eel"]
    assert data.images.shape == (12, 12, 10, 3) and data.images.dtype == np.uint8
    assert list(data.labels) == [0] * 4 + [1] * 4 + [2] * 4
    assert data.paths == sorted(written)
    for path, image in zip(data.paths, data.images):
        np.testing.assert_array_equal(image, written[path])  # PNG is lossless, RGB order kept


def test_bad_files_are_listed_and_warned_about(tmp_path):
    rng = np.random.default_rng(2)
    _make_folder(tmp_path, per_class=2)
    (tmp_path / "cat" / "empty.jpg").write_bytes(b"")
    (tmp_path / "dog" / "notes.png").write_text("not an image")
    ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    (tmp_path / "eel" / "cut.JPG").write_bytes(jpeg.tobytes()[: len(jpeg) * 2 // 3])
    (tmp_path / "eel" / "readme.txt").write_text("ignored: not an image extension")
    with pytest.warns(UserWarning) as caught:
        data = load_image_folder(tmp_path, n_jobs=2)
    assert len(data) == 6
    reasons = dict(data.failures)
    assert set(reasons) == {
        str(tmp_path / "cat" / "empty.jpg"),
        str(tmp_path / "dog" / "notes.png"),
        str(tmp_path / "eel" / "cut.JPG"),
    }
    assert reasons[str(tmp_path / "cat" / "empty.jpg")] == "empty file"
    messages = " ".join(str(w.message) for w in caught)
    assert all(path in messages for path in reasons)


def _truncated_jpeg(tmp_path):
    rng = np.random.default_rng(2)
    ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg.tobytes()[:-2])  # only the end-of-image marker is missing
    return path, jpeg.tobytes()


def test_a_truncated_jpeg_that_opencv_decodes_is_refused_by_the_librarys_check(
    tmp_path, monkeypatch
):
    # OpenCV 4 decodes a JPEG without its end marker, filling what is missing with grey;
    # OpenCV 5 refuses it. Here imdecode behaves as OpenCV 4 on every version, so that the
    # library's own check is what refuses the file.
    path, whole = _truncated_jpeg(tmp_path)
    real = datasets.cv2.imdecode
    monkeypatch.setattr(
        datasets.cv2, "imdecode", lambda buffer, flags: real(np.frombuffer(whole, np.uint8), flags)
    )
    with pytest.raises(DecodeError) as caught:
        decode_image(str(path))
    assert str(caught.value) == "truncated JPEG (no end-of-image marker)"
    assert decode_bytes(whole).shape == (32, 32, 3)  # the whole file decodes


def test_a_truncated_jpeg_gives_the_reason_of_the_step_that_refuses_it(tmp_path):
    path, _ = _truncated_jpeg(tmp_path)
    opencv_decodes = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR) is not None
    with pytest.raises(DecodeError) as caught:
        decode_image(str(path))
    assert str(caught.value) == (
        "truncated JPEG (no end-of-image marker)" if opencv_decodes else "not a decodable image"
    )


def test_stray_images_outside_class_folders_are_reported(tmp_path):
    rng = np.random.default_rng(2)
    _make_folder(tmp_path, per_class=1)
    _write(tmp_path / "loose.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    with pytest.warns(UserWarning, match="loose.png: image outside a class folder"):
        data = load_image_folder(tmp_path)
    assert len(data) == 3 and len(data.failures) == 1


def test_flat_folder_has_no_labels(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(3):
        _write(tmp_path / f"{i}.bmp", rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    data = load_image_folder(tmp_path, grey=True)
    assert data.labels is None and data.class_names == []
    assert data.images.shape == (3, 5, 6)


def test_mixed_sizes_give_a_list_or_resize(tmp_path):
    rng = np.random.default_rng(2)
    _write(tmp_path / "a" / "1.png", rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    _write(tmp_path / "a" / "2.png", rng.integers(0, 256, (8, 7, 3), dtype=np.uint8))
    assert isinstance(load_image_folder(tmp_path).images, list)
    assert load_image_folder(tmp_path, size=(4, 4)).images.shape == (2, 4, 4, 3)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "holds no image files"),
        (lambda root: (root / "a").mkdir(parents=True), "has class folders but no image files"),
    ],
)
def test_empty_or_missing_folder(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(ValueError, match=message):
        load_image_folder(root)


def test_given_split_and_stratified_split(tmp_path):
    _make_folder(tmp_path / "train", per_class=3)
    _make_folder(tmp_path / "test", per_class=1)
    train, test = load_split(tmp_path)
    assert (len(train), len(test)) == (9, 3)
    with pytest.raises(ValueError, match="holds train/ and test/ folders"):
        load_image_folder(tmp_path)

    single = tmp_path / "single"
    _make_folder(single, per_class=5)
    train, test = load_split(single, test_size=0.4, random_state=0)
    assert (len(train), len(test)) == (9, 6)
    assert np.bincount(test.labels).tolist() == [2, 2, 2]
    assert not set(train.paths) & set(test.paths)


def test_cifar10_python_batches(tmp_path):
    rng = np.random.default_rng(2)
    names = [b"airplane", b"automobile"]
    with open(tmp_path / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names}, f)
    expected = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
        rows = images.transpose(0, 3, 1, 2).reshape(3, 3072)  # R plane, G plane, B plane
        labels = rng.integers(0, 2, 3).tolist()
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": rows, b"labels": labels}, f)
        expected[name] = (images, labels)
    train, test = load_cifar10(tmp_path)
    assert train.images.shape == (15, 32, 32, 3) and test.images.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(test.images, expected["test_batch"][0])
    np.testing.assert_array_equal(train.images[3:6], expected["data_batch_2"][0])
    assert train.class_names == ["airplane", "automobile"]
    assert list(test.labels) == expected["test_batch"][1]
    with pytest.raises(ValueError, match="no batches.meta"):
        load_cifar10(tmp_path / "nowhere")


@pytest.mark.parametrize("progressive", [False, True])
def test_a_complete_jpeg_with_bytes_after_it_decodes(progressive):
    # A phone's "motion photo" appends a video after the image's end marker: it was refused
    # as a truncated JPEG because only the last bytes were looked at.
    import io

    from PIL import Image
    from skimage import data as images

    from pipelines.datasets import _is_truncated_jpeg

    picture = images.astronaut()[::4, ::4]
    stream = io.BytesIO()
    Image.fromarray(picture).save(stream, "JPEG", progressive=progressive)
    jpeg = stream.getvalue()
    trailer = b"ftypmp42" + bytes(range(256)) * 4  # holds 0xFF 0xD8 and 0xFF 0xD9 too
    np.testing.assert_array_equal(decode_bytes(jpeg + trailer), decode_bytes(jpeg))
    assert not _is_truncated_jpeg(np.frombuffer(jpeg + trailer, np.uint8))
    for cut in (len(jpeg) // 2, len(jpeg) - 1):  # cut inside the scan, and inside EOI
        assert _is_truncated_jpeg(np.frombuffer(jpeg[:cut], np.uint8))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_header_shape_of_a_turned_jpeg_is_the_decoded_shape(orientation, tmp_path):
    # OpenCV (the reference here) turns a JPEG by its EXIF orientation: 5 to 8 swap rows and
    # columns, which image_shape must know from the header alone
    from PIL import Image

    rng = np.random.default_rng(orientation)
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=95)
    reference = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert reference.shape[:2] == ((30, 20) if orientation >= 5 else (20, 30))
    assert datasets.image_shape(path) == reference.shape[:2]
    decoded = decode_image(path)
    assert decoded.shape == reference.shape
    assert np.array_equal(decoded, reference[..., ::-1])  # BGR -> RGB


def test_a_folder_without_images_lists_the_extensions_it_looks_for(tmp_path):
    (tmp_path / "notes.txt").write_text("no images")
    names = ", ".join(e.lstrip(".") for e in datasets.IMAGE_EXTENSIONS)
    assert names.startswith("png, jpg, jpeg, ")
    message = f"Image folder {str(tmp_path)!r} holds no image files ({names})."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_image_folder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("no images")
    message = (
        f"Image folder {str(tmp_path)!r} has class folders but no image files in them ({names})."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("kind", ["baseline", "progressive", "restart markers"])
def test_every_prefix_of_a_jpeg_is_truncated_and_the_whole_is_not(kind):
    # datasets._is_truncated_jpeg walks the marker segments: a stream cut anywhere (inside a
    # segment's length, inside the entropy-coded data, among fill bytes, before EOI) lacks its
    # end-of-image marker; the whole stream, and the whole with fill bytes after it, do not
    from pipelines.datasets import _is_truncated_jpeg

    image = np.random.default_rng(4).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    options = {
        "baseline": [],
        "progressive": [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
        "restart markers": [cv2.IMWRITE_JPEG_RST_INTERVAL, 1],
    }[kind]
    ok, encoded = cv2.imencode(".jpg", image, options)
    jpeg = encoded.tobytes()
    assert ok and jpeg[-2:] == b"\xff\xd9"
    if kind == "restart markers":
        assert any(bytes([0xFF, m]) in jpeg for m in range(0xD0, 0xD8))
    assert not _is_truncated_jpeg(jpeg)
    cut = [n for n in range(4, len(jpeg)) if _is_truncated_jpeg(jpeg[:n])]
    assert cut == list(range(4, len(jpeg)))
    for n in (len(jpeg) // 3, len(jpeg) - 2):  # cut, then fill bytes: still no EOI
        assert _is_truncated_jpeg(jpeg[:n] + b"\xff\xff")
    assert not _is_truncated_jpeg(b"\x89PNG\r\n\x1a\n")  # not a JPEG: OpenCV's call


def test_fill_bytes_inside_a_scan_are_walked_over():
    # datasets._is_truncated_jpeg: inside entropy-coded data, 0xFF 0xFF is a fill byte before
    # what follows (libjpeg reads FF FF 00 as a stuffed zero), never the start of a marker
    from pipelines.datasets import _is_truncated_jpeg

    image = np.random.default_rng(5).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)
    jpeg = encoded.tobytes()
    head, scan = jpeg.split(b"\xff\xda", 1)
    assert ok and scan.count(b"\xff\x00") >= 3
    filled = head + b"\xff\xda" + scan.replace(b"\xff\x00", b"\xff\xff\x00")
    decoded = cv2.imdecode(np.frombuffer(filled, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded, cv2.imdecode(encoded, cv2.IMREAD_COLOR))  # the same image
    assert not _is_truncated_jpeg(filled)
    cut = [n for n in range(4, len(filled)) if _is_truncated_jpeg(filled[:n])]
    assert cut == list(range(4, len(filled)))


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (cv2.error("OpenCV(4) error: (-215:Assertion failed) in function 'imdecode_'"), None),
        (cv2.error("Failed to allocate 3000000000 bytes"), "out of memory"),
    ],
)
def test_an_opencv_error_while_decoding_is_a_decode_error(raised, reason, monkeypatch):
    # datasets.decode_bytes: OpenCV's own exceptions become the library's one-line reasons
    ok, encoded = cv2.imencode(".png", np.zeros((4, 6, 3), np.uint8))

    def failing(*args, **kwargs):
        raise raised

    monkeypatch.setattr(cv2, "imdecode", failing)
    with pytest.raises(DecodeError) as caught:
        decode_bytes(encoded.tobytes())
    if reason is None:
        assert str(caught.value) == "not a decodable image"
    else:
        assert str(caught.value).startswith(reason)


def test_a_class_folder_that_cannot_be_listed_is_a_failure_with_its_reason(tmp_path, monkeypatch):
    import errno

    _make_folder(tmp_path, classes=("cat", "dog"), per_class=2)
    real = datasets._scan

    def scan(folder):
        if folder.endswith("dog"):
            raise OSError(errno.EACCES, "Permission denied")
        return real(folder)

    monkeypatch.setattr(datasets, "_scan", scan)
    paths, labels, classes, failures = datasets.list_image_files(tmp_path)
    assert classes == ["cat", "dog"] and len(paths) == 2
    assert failures == [(str(tmp_path / "dog"), "cannot list the class folder: Permission denied")]
