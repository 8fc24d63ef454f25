"""Benchmark features.hog_features against scikit-image and OpenCV's HOGDescriptor on one core.

Images per second (median of --repeats runs) for the same HOG (9 bins, 8 x 8 cells, 2 x 2 cell
blocks, L2-Hys: skimage's ``cells_per_block=(2, 2)``, OpenCV's block 16, stride 8, cell 8) on
images of each size, and the ratios ours / OpenCV and ours / scikit-image. All libraries run on
one thread (numba, OpenCV, OpenMP and BLAS). Sizes are WIDTHxHEIGHT as OpenCV's winSize, so
64x128 is the classic 128-row pedestrian window. Images are random crops of the photographs
shipped with scikit-image (``--images noise`` for uniform noise, the worst case of the uint8
tables). The script also prints the largest difference between our features and skimage's.

OpenCV 5 removed ``HOGDescriptor`` from the main module; the script then says so and compares
with scikit-image only. To include OpenCV, run it where OpenCV 4.x is installed::

    pip install -e '.[bench]'            # the extra pins opencv-python-headless>=4.8,<5
    # or a separate environment:
    python -m venv /tmp/venv-cv4
    /tmp/venv-cv4/bin/pip install numpy scipy scikit-learn scikit-image numba \\
        'opencv-python-headless<5'
    PYTHONPATH=. /tmp/venv-cv4/bin/python scripts/bench_hog.py

Examples::

    python scripts/bench_hog.py
    python scripts/bench_hog.py --sizes 32x32,64x128 --repeats 7 --images noise --color
"""

import os

for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import functools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from skimage.feature import hog as skimage_hog  # noqa: E402

from features.hog import hog_features  # noqa: E402

PARAMS = dict(orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat")
# Pixel values timed per size for our HOG and OpenCV; scikit-image gets a tenth.
PIXEL_BUDGET = 8_000_000


def _parse_size(text):
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or min(int(width), int(height)) < 16:
        raise ValueError(f"sizes must look like 64x128 (WIDTHxHEIGHT, each >= 16); got {text!r}")
    return int(height), int(width)


def _images(kind, n, rows, cols, color, rng):
    shape = (n, rows, cols, 3) if color else (n, rows, cols)
    if kind == "noise":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    out = np.empty(shape, dtype=np.uint8)
    photos = [getattr(skimage.data, name)() for name in PHOTOS]
    for i in range(n):
        photo = photos[i % len(photos)]
        if photo.shape[0] < rows or photo.shape[1] < cols:
            photo = cv2.resize(photo, (max(cols, photo.shape[1]), max(rows, photo.shape[0])))
        r = rng.integers(0, photo.shape[0] - rows + 1)
        c = rng.integers(0, photo.shape[1] - cols + 1)
        crop = photo[r : r + rows, c : c + cols]
        if crop.ndim == 2 and color:
            crop = np.repeat(crop[..., None], 3, axis=2)
        elif crop.ndim == 3 and not color:
            crop = cv2.cvtColor(np.ascontiguousarray(crop[..., :3]), cv2.COLOR_RGB2GRAY)
        out[i] = crop[..., :3] if color else crop
    return out


def _ours(images):
    return hog_features(images, **PARAMS)


def _skimage(images):
    channel_axis = -1 if images.ndim == 4 else None
    return np.stack([skimage_hog(x, **PARAMS, channel_axis=channel_axis) for x in images])


def _opencv(descriptor, images):
    return [descriptor.compute(x) for x in images]


def _rate(run, images, repeats):
    """Images per second of ``run(images)``: median of ``repeats`` timed runs after a warm-up."""
    run(images[:2])  # warm up (numba compilation, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(images)
        times.append(time.perf_counter() - start)
    return len(images) / float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring for running with OpenCV 4.x.",
    )
    parser.add_argument("--sizes", default="32x32,64x128,256x256", help="WIDTHxHEIGHT list")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; median reported")
    parser.add_argument("--images", choices=("photos", "noise"), default="photos")
    parser.add_argument("--color", action="store_true", help="RGB instead of grey images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        sizes = [_parse_size(s) for s in args.sizes.split(",")]
    except ValueError as error:
        print(f"bench_hog: {error}", file=sys.stderr)
        return 2
    if args.repeats < 1:
        print("bench_hog: --repeats must be >= 1", file=sys.stderr)
        return 2

    import numba

    numba.set_num_threads(1)
    cv2.setNumThreads(1)
    has_cv_hog = hasattr(cv2, "HOGDescriptor")
    print(
        f"numpy {np.__version__}, numba {numba.__version__}, OpenCV {cv2.__version__}, "
        f"scikit-image {skimage.__version__}; one thread; {args.images}, "
        f"{'RGB' if args.color else 'grey'} uint8; median of {args.repeats}"
    )
    if not has_cv_hog:
        print(
            f"OpenCV {cv2.__version__} has no cv2.HOGDescriptor (removed from the main module "
            "in OpenCV 5): comparing with scikit-image only. Install opencv-python-headless<5 "
            "to compare with OpenCV (see --help)."
        )
    rng = np.random.default_rng(args.seed)
    header = (
        f"{'size':>9} {'features':>8} {'ours img/s':>11} {'skimage':>9} {'OpenCV':>9} "
        f"{'ours/OpenCV':>11} {'ours/skimage':>12} {'max|diff|':>9}"
    )
    print(header)
    for rows, cols in sizes:
        n = max(20, PIXEL_BUDGET // (rows * cols))
        n_ski = max(5, n // 10)
        images = _images(args.images, n, rows, cols, args.color, rng)
        ours = _rate(_ours, images, args.repeats)
        ski = _rate(_skimage, images[:n_ski], args.repeats)
        check = _ours(images[:n_ski])
        diff = float(np.abs(check - _skimage(images[:n_ski])).max())
        cv_text, ratio_text = f"{'-':>9}", f"{'-':>11}"
        if has_cv_hog:
            descriptor = cv2.HOGDescriptor((cols, rows), (16, 16), (8, 8), (8, 8), 9)
            if descriptor.getDescriptorSize() != check.shape[1]:
                print("bench_hog: OpenCV's descriptor length differs from ours", file=sys.stderr)
                return 1
            cv = _rate(functools.partial(_opencv, descriptor), images, args.repeats)
            cv_text, ratio_text = f"{cv:9.0f}", f"{ours / cv:10.2f}x"
        print(
            f"{f'{cols}x{rows}':>9} {check.shape[1]:8d} {ours:11.0f} {ski:9.0f} {cv_text} "
            f"{ratio_text} {ours / ski:11.1f}x {diff:9.1e}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
