"""Image data sets: scikit-learn's digits, folders of image files, and CIFAR-10's python batches.

Every loader returns an :class:`ImageDataset` (or a pair of them for a given train/test split).
Folders follow the layout ``root/<class>/<image>``; a folder of images with no class folders is
read without labels. Decoding uses OpenCV, in parallel threads (OpenCV releases the GIL).
A file that cannot be decoded is never dropped silently: it is listed in ``failures`` with its
reason and a warning names it.
"""

import errno
import io
import os
import pickle
import re
import stat
import warnings
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed

from features import resize_images

from ._runtime import DEFAULT_MAX_PIXELS, worker_count

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_FILES_PER_TASK = 512


@dataclass
class ImageDataset:
    """A set of images with their labels, names and provenance.

    Attributes
    ----------
    images : ndarray of shape (n, rows, cols[, 3]) or list of ndarray
        uint8 RGB (or grey) images; a list when the images have different shapes.
    labels : ndarray of shape (n,) of int or None
        Index into ``class_names``; None for a folder without class folders.
    class_names : list of str
        Sorted class names.
    paths : list of str
        Where each image came from, one per image.
    failures : list of (str, str)
        (path, reason) for each file that could not be read.
    """

    images: object
    labels: object
    class_names: list
    paths: list
    failures: list = field(default_factory=list)

    def __len__(self):
        return len(self.paths)

    @property
    def is_grey(self):
        """True when the images have no colour channels."""
        return is_grey(self.images)

    def subset(self, index):
        """The images at ``index`` (an integer array) as a new data set."""
        index = np.asarray(index)
        images = (
            self.images[index]
            if isinstance(self.images, np.ndarray)
            else [self.images[i] for i in index]
        )
        labels = None if self.labels is None else self.labels[index]
        return ImageDataset(
            images, labels, list(self.class_names), [self.paths[i] for i in index], []
        )


def is_grey(images):
    """True for a batch of grey images: an array (n, rows, cols) or a list of 2-D images.

    Examples
    --------
    >>> import numpy as np
    >>> is_grey(np.zeros((2, 8, 8))), is_grey([np.zeros((8, 8, 3))])
    (True, False)
    """
    if isinstance(images, np.ndarray):
        return images.ndim == 3
    return len(images) > 0 and np.ndim(images[0]) == 2


def load_dataset(name):
    """Load a data set that ships with the installed packages.

    Parameters
    ----------
    name : {"digits"}
        "digits": scikit-learn's 1,797 handwritten digits as (1797, 8, 8) float32 images in
        [0, 1] (the original 0-16 grey levels divided by 16).

    Returns
    -------
    dataset : ImageDataset

    Examples
    --------
    >>> from pipelines.datasets import load_dataset
    >>> digits = load_dataset("digits")
    >>> digits.images.shape, digits.class_names[:3]
    ((1797, 8, 8), ['0', '1', '2'])
    """
    if name != "digits":
        raise ValueError(f"Unknown data set {name!r}; available: 'digits'.")
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    paths = [f"digits#{i}" for i in range(len(images))]
    return ImageDataset(
        images, digits.target.astype(np.int64), [str(c) for c in digits.target_names], paths
    )


def list_image_files(root):
    """List the image files of a folder in the ``root/<class>/<image>`` layout, sorted.

    Any name the operating system allows is kept as Python gives it (names that are not
    UTF-8 carry their bytes as surrogate escapes, which ``open`` and ``os.fsencode`` turn
    back into the same bytes). Symbolic links are followed; a link that leads nowhere or
    into a loop, an image-named entry that is not a regular file (a folder, a FIFO, a
    device) and a class folder that cannot be listed are returned as failures with their
    reason, never dropped silently and never fatal. Hidden names (starting with ".") are
    skipped.

    Parameters
    ----------
    root : str or Path
        A folder of class folders, or a flat folder of images (no labels).

    Returns
    -------
    paths : list of str
        Image files (by extension, case-insensitive), sorted by class then file name.
    labels : ndarray of int or None
        Index of each file's class in ``class_names``; None for a flat folder.
    class_names : list of str
        The sorted names of the class folders.
    failures : list of (str, str)
        Entries found while listing that cannot be read, with the reason: image files
        outside any class folder when class folders exist, broken or looping links,
        image-named entries that are not files, folders that cannot be listed.

    Raises
    ------
    ValueError
        When ``root`` does not exist, is not a folder, or holds no image files.

    Examples
    --------
    >>> from pipelines.datasets import list_image_files
    >>> paths, labels, class_names, failures = list_image_files("photos")  # doctest: +SKIP
    >>> class_names, failures[:1]  # doctest: +SKIP
    (['cat', 'dog'], [('photos/cat/old.jpg', 'dangling symbolic link')])
    """
    root = Path(root)
    if not root.exists():
        raise ValueError(f"Image folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise ValueError(f"Image folder {str(root)!r} is not a folder.")
    try:
        entries, failures = _scan(str(root))  # every failure here: it may be a class folder
    except OSError as exc:
        raise ValueError(
            f"Cannot list image folder {str(root)!r}: {exc.strerror or exc}."
        ) from None
    class_dirs = [path for path, kind in entries if kind == "dir"]
    top_images = [path for path, kind in entries if kind == "file" and _is_image_name(path)]
    if not class_dirs:
        files = top_images
        if not files:
            raise ValueError(f"Image folder {str(root)!r} holds no image files ({_ext_list()}).")
        return files, None, [], sorted(failures)
    paths, labels = [], []
    for label, folder in enumerate(class_dirs):
        try:
            found, problems = _scan(folder)
        except OSError as exc:
            failures.append((folder, f"cannot list the class folder: {exc.strerror or exc}"))
            continue
        files, problems = _image_files(found, problems)
        failures += problems
        paths.extend(files)
        labels.extend([label] * len(files))
    if not paths:
        raise ValueError(
            f"Image folder {str(root)!r} has class folders but no image files in them "
            f"({_ext_list()})."
        )
    failures += [(p, "image outside a class folder") for p in top_images]
    names = [os.path.basename(folder) for folder in class_dirs]
    return paths, np.asarray(labels, dtype=np.int64), names, sorted(failures)


def _image_files(entries, failures):
    """The image files among ``entries``, and the failures that concern images.

    A folder with an image name is a failure; a failure whose name is not an image's (a
    broken link named ``notes.txt``) concerns no image and is dropped, as such files are.
    """
    files = [path for path, kind in entries if kind == "file" and _is_image_name(path)]
    failures = [(path, reason) for path, reason in failures if _is_image_name(path)]
    failures += [
        (path, "not a regular file (a folder)")
        for path, kind in entries
        if kind == "dir" and _is_image_name(path)
    ]
    return files, failures


def _scan(folder):
    """([(path, "file" | "dir")], [(path, reason)]) of a folder's visible entries, sorted.

    Entries are classified by ``os.stat``, which follows symbolic links; an entry it
    cannot classify, or that is neither a regular file nor a folder, is a failure. Raises
    ``OSError`` when the folder itself cannot be listed.
    """
    with os.scandir(folder) as listing:
        names = sorted(entry.name for entry in listing if not entry.name.startswith("."))
    entries, failures = [], []
    for name in names:
        path = os.path.join(folder, name)
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            failures.append((path, _stat_reason(path, exc)))
            continue
        if stat.S_ISDIR(mode):
            entries.append((path, "dir"))
        elif stat.S_ISREG(mode):
            entries.append((path, "file"))
        else:
            failures.append((path, "not a regular file (a FIFO, socket or device)"))
    return entries, failures


def _stat_reason(path, exc):
    reason = _os_reason(path, exc)
    return reason if reason != (exc.strerror or str(exc)) else f"cannot read: {reason}"


def _is_image_name(path):
    name = os.path.basename(path)
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _ext_list():
    return ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)


# Bytes a file may have for its size in pixels: 16-bit RGBA without compression (8 bytes a
# pixel), plus room for metadata (EXIF, ICC profiles, thumbnails). A larger file is refused
# before it is read.
_BYTES_PER_PIXEL = 8
_METADATA_BYTES = 64 << 20


class DecodeError(ValueError):
    """A file or upload that gives no image; the message is the reason, in one line."""


def check_max_pixels(max_pixels):
    """Return ``max_pixels`` as an int >= 1, or raise a one-line ``ValueError``."""
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, Integral) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int; got {max_pixels!r}.")
    return int(max_pixels)


def check_size(size, max_pixels=DEFAULT_MAX_PIXELS):
    """Return ``size`` as (rows, cols), or raise when it is malformed or over ``max_pixels``.

    Examples
    --------
    >>> from pipelines.datasets import check_size
    >>> check_size([32, 32])
    (32, 32)
    """
    if size is None:
        return None
    try:
        rows, cols = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be a pair (rows, cols); got {size!r}.") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"size must be a pair of positive ints; got {size!r}.")
    if rows * cols > check_max_pixels(max_pixels):
        raise ValueError(
            f"size {rows}x{cols} is {rows * cols} pixels, over the limit of {max_pixels} "
            "pixels per image (max_pixels, --max-pixels)."
        )
    return rows, cols


def _header_shape(data, limit):
    """(rows, cols) from the image header, read by Pillow without decoding the pixels.

    The shape is the one decoding gives: an EXIF orientation that turns the image by 90
    degrees (which OpenCV applies) swaps rows and cols.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                cols, rows = image.size
                # OpenCV turns JPEGs by their EXIF orientation; Pillow has a JPEG's EXIF from
                # its header (for PNG it would decode the whole image to look for one).
                turned = image.format == "JPEG" and (
                    image.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
                )
    except Image.DecompressionBombError as exc:  # over twice Pillow's own limit
        found = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow names the header's count
        declared = f"{found.group(1)} pixels" if found else "more pixels than Pillow reads"
        raise DecodeError(
            f"image of {declared} (from its header) is over the limit of {limit} pixels "
            "(max_pixels)"
        ) from None
    except MemoryError:
        raise DecodeError("out of memory: reading the image header failed (MemoryError)") from None
    except Exception:  # Pillow raises many types on a malformed header: all mean "not an image"
        raise DecodeError("not a decodable image") from None
    return (cols, rows) if turned else (rows, cols)


_EXIF_ORIENTATION = 0x0112


def image_shape(path, *, max_pixels=DEFAULT_MAX_PIXELS):
    """(rows, cols) of an image file as :func:`decode_image` would decode it, from its header.

    Only the header is read (a few KB at most), so the shapes of a whole folder are known at
    the cost of listing it.

    Raises
    ------
    DecodeError
        When the file cannot be read, is not an image, or is over ``max_pixels``.

    Examples
    --------
    >>> import cv2, numpy as np
    >>> from pipelines.datasets import image_shape
    >>> _ = cv2.imwrite("wide.png", np.zeros((20, 30, 3), np.uint8))  # doctest: +SKIP
    >>> image_shape("wide.png")  # doctest: +SKIP
    (20, 30)
    """
    limit = check_max_pixels(max_pixels)
    with _open_image_file(path) as f:
        header = f.read(_HEADER_BYTES)
    if not header:
        raise DecodeError("empty file")
    try:
        shape = _header_shape(header, limit)
    except DecodeError:  # a header longer than the first bytes (large EXIF blocks)
        with _open_image_file(path) as f:
            shape = _header_shape(_read_limited(f, limit), limit)
    if shape[0] * shape[1] > limit:
        raise DecodeError(_over_limit(*shape, limit))
    return shape


_HEADER_BYTES = 1 << 16


def _shapes_of(paths, max_pixels):
    shapes = []
    for path in paths:
        try:
            shapes.append(image_shape(path, max_pixels=max_pixels))
        except DecodeError:
            shapes.append(None)
    return shapes


def image_shapes(paths, *, max_pixels=DEFAULT_MAX_PIXELS, n_jobs=None):
    """:func:`image_shape` of many files, in parallel threads; None where it fails.

    Examples
    --------
    >>> from pipelines.datasets import image_shapes
    >>> image_shapes(["wide.png", "notes.png"])  # doctest: +SKIP
    [(20, 30), None]
    """
    tasks = [paths[i : i + _FILES_PER_TASK] for i in range(0, len(paths), _FILES_PER_TASK)]
    parts = Parallel(n_jobs=worker_count(n_jobs, len(tasks)), prefer="threads")(
        delayed(_shapes_of)(task, max_pixels) for task in tasks
    )
    return [shape for part in parts for shape in part]


def decode_bytes(data, *, grey=False, size=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Decode an encoded image (PNG, JPEG, BMP, TIFF, WebP ...) held in memory.

    This is the one decode path of the library: the data-set loaders, batch extraction,
    prediction and the service all decode through it, so the same file always gives the same
    array.

    1. **Header.** The image's size is read from its header (Pillow), before any pixel is
       decoded: an image of more than ``max_pixels`` pixels is refused at the cost of its
       header, so a decompression bomb costs nothing.
    2. **Decode** with OpenCV, as grey ``(rows, cols)`` or as RGB ``(rows, cols, 3)``: grey
       files are expanded, an alpha channel is dropped, 16-bit images become 8-bit. A JPEG
       without its end-of-image marker is refused (OpenCV would fill the missing part grey).
    3. **Resize** to ``size`` by the library's one rule (:func:`features.resize_images`):
       INTER_AREA when shrinking in both directions, INTER_LINEAR otherwise.

    Parameters
    ----------
    data : bytes, bytearray, memoryview or ndarray of uint8
        The encoded image.
    grey : bool, default=False
        Decode as grey instead of RGB.
    size : tuple of (int, int) or None
        Resize to (rows, cols).
    max_pixels : int, default=4096*4096
        The largest image (rows x cols, as decoded) accepted.

    Returns
    -------
    image : ndarray of uint8, shape (rows, cols) or (rows, cols, 3)

    Raises
    ------
    DecodeError
        With the reason: "empty file", "not a decodable image", "truncated JPEG (no
        end-of-image marker)", or an image over the pixel limit.

    Examples
    --------
    >>> import cv2, numpy as np
    >>> from pipelines.datasets import decode_bytes
    >>> png = cv2.imencode(".png", np.zeros((20, 30, 3), np.uint8))[1].tobytes()
    >>> decode_bytes(png, size=(10, 15)).shape, decode_bytes(png, grey=True).shape
    ((10, 15, 3), (20, 30))
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size == 0:
        raise DecodeError("empty file")
    limit = check_max_pixels(max_pixels)
    size = check_size(size, limit)
    rows, cols = _header_shape(buffer, limit)
    if rows * cols > limit:
        raise DecodeError(_over_limit(rows, cols, limit))
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    except MemoryError:
        raise DecodeError(_out_of_memory(rows, cols)) from None
    except cv2.error as exc:  # OpenCV reports a failed allocation as an error of its own
        if "memory" in str(exc).lower() or "allocate" in str(exc).lower():
            raise DecodeError(_out_of_memory(rows, cols)) from None
        raise DecodeError("not a decodable image") from None
    if image is None:
        _check_room(rows, cols, 1 if grey else 3)  # OpenCV returns None when it runs out, too
        raise DecodeError("not a decodable image")
    if image.shape[0] * image.shape[1] > limit:  # a header that understated the size
        raise DecodeError(_over_limit(image.shape[0], image.shape[1], limit))
    if _is_truncated_jpeg(buffer):
        raise DecodeError("truncated JPEG (no end-of-image marker)")
    try:
        if not grey:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if size is not None and image.shape[:2] != tuple(size):
            image = resize_images(image[None], tuple(size))[0]
    except MemoryError:
        raise DecodeError(_out_of_memory(*image.shape[:2], size)) from None
    return image


def _check_room(rows, cols, channels):
    """Raise the out-of-memory DecodeError when an image of this size cannot be allocated."""
    try:
        room = np.empty(rows * cols * channels, dtype=np.uint8)  # reserved, never touched
    except MemoryError:
        raise DecodeError(_out_of_memory(rows, cols)) from None
    del room


def _over_limit(rows, cols, limit):
    return f"image of {rows}x{cols} pixels is over the limit of {limit} pixels (max_pixels)"


def _out_of_memory(rows, cols, size=None):
    what = f"an image of {rows}x{cols} pixels"
    if size is not None:
        what += f" resized to {size[0]}x{size[1]}"
    return f"out of memory: the allocation for {what} failed (MemoryError)"


def decode_image(path, *, grey=False, size=None, max_pixels=DEFAULT_MAX_PIXELS, grayscale=None):
    """Read an image file and decode it with :func:`decode_bytes`.

    A file larger than any image within ``max_pixels`` could be is refused before it is read.

    Parameters
    ----------
    path : str or Path
        The file.
    grey, size, max_pixels
        See :func:`decode_bytes`.
    grayscale : bool or None
        Deprecated spelling of ``grey``.

    Returns
    -------
    image : ndarray of uint8

    Raises
    ------
    DecodeError
        When the file cannot be read, or gives no image; the message is the reason.
    """
    grey = _grey_argument(grey, grayscale, "decode_image")
    limit = check_max_pixels(max_pixels)
    with _open_image_file(path) as f:
        data = _read_limited(f, limit)
    return decode_bytes(data, grey=grey, size=size, max_pixels=limit)


class _open_image_file:
    """Open ``path`` for reading as a regular file, or raise a ``DecodeError`` saying why.

    The file is opened without blocking, so that a FIFO or a device with an image's name
    is refused instead of waiting forever (or reading forever, like /dev/zero).
    """

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            raise DecodeError(f"cannot read the file: {_os_reason(self.path, exc)}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DecodeError("not a regular file")
        self.file = os.fdopen(fd, "rb")
        return self.file

    def __exit__(self, *exc_info):
        self.file.close()


def _read_limited(f, limit):
    """The bytes of an open file, refused when larger than any image within ``limit``."""
    most = _BYTES_PER_PIXEL * limit + _METADATA_BYTES
    n_bytes = os.fstat(f.fileno()).st_size
    data = f.read(n_bytes + 1) if n_bytes <= most else b""  # read(n) allocates n bytes
    if n_bytes > most or len(data) > most:
        raise DecodeError(
            f"file of {max(n_bytes, len(data))} bytes is larger than any image within the "
            f"limit of {limit} pixels"
        )
    return data


def _os_reason(path, exc):
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "dangling symbolic link (its target does not exist)"
    return exc.strerror or str(exc)


def _is_truncated_jpeg(data):
    """Whether a JPEG stream ends before its end-of-image marker.

    The marker segments are walked from the start (lengths, then the entropy-coded data of
    each scan up to the next marker), so that bytes after a complete image (a phone's
    "motion photo" appends a video) do not make it look truncated.
    """
    data = data.tobytes() if hasattr(data, "tobytes") else bytes(data)
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False  # not a JPEG
    pos, end = 2, len(data)
    while True:
        if pos >= end or data[pos] != 0xFF:
            return pos >= end  # out of data before EOI; a malformed stream is OpenCV's call
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            return True
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return False
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            continue
        if pos + 2 > end:
            return True
        pos += (data[pos] << 8) | data[pos + 1]
        if marker == 0xDA:  # a scan: its coded data runs to the next marker
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= end:
                    return True
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos += 1 if following == 0xFF else 2
                    continue
                break


def _decode_many(paths, grey, size, max_pixels):
    images, failures = [], []
    for path in paths:
        try:
            images.append(decode_image(path, grey=grey, size=size, max_pixels=max_pixels))
        except DecodeError as exc:
            images.append(None)
            failures.append((path, str(exc)))
    return images, failures


def decode_images(
    paths, *, grey=False, size=None, max_pixels=DEFAULT_MAX_PIXELS, n_jobs=None, grayscale=None
):
    """Decode many image files in parallel threads (OpenCV releases the GIL).

    Parameters
    ----------
    paths : list of str
        The files, in the order wanted.
    grey, size, max_pixels
        See :func:`decode_bytes`.
    n_jobs : int or None
        Threads (joblib's convention: None is 1, -1 all cores), capped at the cores and at
        the blocks of 512 files.
    grayscale : bool or None
        Deprecated spelling of ``grey``.

    Returns
    -------
    images : list of ndarray or None
        One per path, None where decoding failed.
    failures : list of (str, str)
        (path, reason) for each failed file, in path order.
    """
    grey = _grey_argument(grey, grayscale, "decode_images")
    size = check_size(size, max_pixels)  # a bad size fails once, before any file is read
    tasks = [paths[i : i + _FILES_PER_TASK] for i in range(0, len(paths), _FILES_PER_TASK)]
    parts = Parallel(n_jobs=worker_count(n_jobs, len(tasks)), prefer="threads")(
        delayed(_decode_many)(task, grey, size, max_pixels) for task in tasks
    )
    images = [image for part, _ in parts for image in part]
    failures = [failure for _, part in parts for failure in part]
    return images, failures


def _grey_argument(grey, grayscale, owner):
    """``grey``, or the deprecated ``grayscale`` with a FutureWarning when it is given."""
    if grayscale is None:
        return bool(grey)
    warnings.warn(
        f"{owner}(grayscale=...) is deprecated and will be removed in the next release; "
        "use grey=... instead.",
        FutureWarning,
        stacklevel=3,
    )
    return bool(grayscale)


def load_image_folder(
    root, size=None, grey=False, n_jobs=-1, *, max_pixels=DEFAULT_MAX_PIXELS, grayscale=None
):
    """Load a folder of images in the ``root/<class>/<image>`` layout.

    Parameters
    ----------
    root : str or Path
        The folder: class folders of image files (png, jpg, jpeg, bmp, tif, tiff, webp; any
        case), or image files directly (then ``labels`` is None).
    size : tuple of (int, int) or None, default=None
        Resize every image to (rows, cols) while decoding.
    grey : bool, default=False
        Decode as grey instead of RGB.
    n_jobs : int, default=-1
        Decoding threads (-1: one per core).
    max_pixels : int, default=4096*4096
        Larger images are failures, refused from their header (see :func:`decode_bytes`).
    grayscale : bool or None
        Deprecated spelling of ``grey``.

    Returns
    -------
    dataset : ImageDataset
        ``images`` is one uint8 array when all images share a shape, else a list.

    Raises
    ------
    ValueError
        When the folder is missing or holds no images, or holds ``train/`` and ``test/``
        splits (read those with :func:`load_split`).

    Warns
    -----
    UserWarning
        Naming each file that could not be read (also listed in ``failures``).

    Examples
    --------
    >>> from pipelines.datasets import load_image_folder
    >>> data = load_image_folder("photos")  # doctest: +SKIP
    >>> data.images.shape, data.class_names, data.failures  # doctest: +SKIP
    ((120, 32, 32, 3), ['cat', 'dog'], [])
    """
    grey = _grey_argument(grey, grayscale, "load_image_folder")
    size = check_size(size, max_pixels)
    if _split_folders(root) is not None:
        raise ValueError(
            f"{str(root)!r} holds train/ and test/ folders; load them with load_split(root) "
            "or point at one of them."
        )
    paths, labels, class_names, failures = list_image_files(root)
    decoded, decode_failures = decode_images(
        paths, grey=grey, size=size, max_pixels=max_pixels, n_jobs=n_jobs
    )
    failures = failures + decode_failures
    for path, reason in failures:
        warnings.warn(f"Skipped {path}: {reason}", UserWarning, stacklevel=2)
    keep = [i for i, image in enumerate(decoded) if image is not None]
    if not keep:
        raise ValueError(f"No image in {str(root)!r} could be decoded ({len(paths)} files failed).")
    good = [decoded[i] for i in keep]
    shapes = {image.shape for image in good}
    images = np.stack(good) if len(shapes) == 1 else good
    labels = None if labels is None else labels[keep]
    return ImageDataset(images, labels, class_names, [paths[i] for i in keep], failures)


def _split_folders(root):
    root = Path(root)
    train, test = root / "train", root / "test"
    return (train, test) if train.is_dir() and test.is_dir() else None


def split_dataset(data, *, test_size=0.2, random_state=0):
    """Split a labelled data set into (train, test), stratified and shuffled.

    The failures of ``data`` stay with the training part.

    Examples
    --------
    >>> from pipelines.datasets import load_dataset, split_dataset
    >>> train, test = split_dataset(load_dataset("digits"), test_size=0.2)
    >>> len(train), len(test)
    (1437, 360)
    """
    from sklearn.model_selection import train_test_split

    if data.labels is None:
        raise ValueError("The images have no labels (no class folders), so they cannot be split.")
    train_index, test_index = train_test_split(
        np.arange(len(data)), test_size=test_size, stratify=data.labels, random_state=random_state
    )
    train, test = data.subset(train_index), data.subset(test_index)
    train.failures = list(data.failures)
    return train, test


def load_split(
    root,
    *,
    test_size=0.2,
    random_state=0,
    size=None,
    grey=False,
    n_jobs=-1,
    max_pixels=DEFAULT_MAX_PIXELS,
    grayscale=None,
):
    """Load a folder as a (train, test) pair.

    A folder holding ``train/`` and ``test/`` (each in the class-folder layout) is read as that
    given split; any other class-folder layout is split stratified and shuffled with
    ``test_size`` and ``random_state`` (:func:`split_dataset`).

    Returns
    -------
    train, test : ImageDataset
    """
    grey = _grey_argument(grey, grayscale, "load_split")
    options = dict(size=size, grey=grey, n_jobs=n_jobs, max_pixels=max_pixels)
    split = _split_folders(root)
    if split is not None:
        train, test = (load_image_folder(folder, **options) for folder in split)
        if train.class_names != test.class_names:
            raise ValueError(
                f"train/ and test/ of {str(root)!r} have different class folders: "
                f"{train.class_names} and {test.class_names}."
            )
        return train, test
    data = load_image_folder(root, **options)
    if data.labels is None:
        raise ValueError(f"{str(root)!r} has no class folders, so it has no labels to split.")
    return split_dataset(data, test_size=test_size, random_state=random_state)


def load_labelled(
    dataset=None, folder=None, *, size=None, n_jobs=-1, max_pixels=DEFAULT_MAX_PIXELS
):
    """The labelled images of a shipped data set (``"digits"``) or of a class-folder tree.

    Files that cannot be decoded are left out with a warning (see :func:`load_image_folder`)
    and listed in ``failures``. The images must share one shape (give ``size`` otherwise).

    Examples
    --------
    >>> from pipelines.datasets import load_labelled
    >>> load_labelled("digits").images.shape
    (1797, 8, 8)
    """
    if folder is None:
        return load_dataset(dataset or "digits")
    data = load_image_folder(folder, size=size, n_jobs=n_jobs, max_pixels=max_pixels)
    if data.labels is None:
        raise ValueError(f"{str(folder)!r} has no class folders, so its images have no labels.")
    if not isinstance(data.images, np.ndarray):
        shapes = sorted({image.shape for image in data.images})[:3]
        raise ValueError(
            f"The images of {str(folder)!r} have different shapes ({shapes}, ...); "
            "give a size to resize them to one shape."
        )
    return data


def load_cifar10(path):
    """Load CIFAR-10's "python version" batches from a local folder.

    The folder holds ``data_batch_1`` ... ``data_batch_5``, ``test_batch`` and ``batches.meta``
    as published by the data set's authors (pickled dicts: ``data`` is (10000, 3072) uint8 with
    the red, green and blue planes of each 32x32 image in turn; ``labels`` a list of ints).
    The files are unpickled: only load copies you trust.

    Parameters
    ----------
    path : str or Path
        The folder (usually ``cifar-10-batches-py``).

    Returns
    -------
    train, test : ImageDataset
        50,000 and 10,000 images of shape (32, 32, 3), uint8 RGB.
    """
    path = Path(path)
    meta_file = path / "batches.meta"
    if not meta_file.is_file():
        raise ValueError(f"{str(path)!r} is not a CIFAR-10 python folder: no batches.meta in it.")
    with open(meta_file, "rb") as f:
        meta = pickle.load(f, encoding="bytes")
    class_names = [
        n.decode() if isinstance(n, bytes) else n
        for n in meta.get(b"label_names", meta.get("label_names", []))
    ]

    def read(names):
        images, labels, paths = [], [], []
        for name in names:
            file = path / name
            if not file.is_file():
                raise ValueError(f"CIFAR-10 batch {str(file)!r} is missing.")
            with open(file, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.extend(batch[b"labels"])
            paths.extend(f"{file}#{i}" for i in range(len(data)))
        return ImageDataset(
            np.ascontiguousarray(np.concatenate(images)),
            np.asarray(labels, dtype=np.int64),
            class_names,
            paths,
        )

    return read([f"data_batch_{i}" for i in range(1, 6)]), read(["test_batch"])
