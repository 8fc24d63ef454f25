"""Benchmark ColorHistogram against np.histogramdd and cv2.calcHist, per image, on one core.

Prints images per second (median of --repeats runs) and the ratios, for an RGB and an HSV
joint histogram of --bins bins per channel. Our HSV timings include the colour conversion of
the whole batch (one cv2.cvtColor call); the references are timed on images already converted,
which favours them.

    python scripts/bench_color.py --n-images 5000 --repeats 7
"""

import argparse
import os
import sys

# One core for everyone: set before numba, OpenCV and BLAS start their thread pools.
for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from features.color import (  # noqa: E402
    COLOR_SPACES,
    ColorHistogram,
    color_histogram,
    convert_color,
)


def _median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _test_images(n, rows, cols, seed):
    """Half uniform noise, half crops of skimage's colour pictures (smooth, repeated bins)."""
    import skimage.data

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(n - n // 2, rows, cols, 3), dtype=np.uint8)
    pictures = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    crops = []
    for _ in range(n // 2):
        picture = pictures[rng.integers(len(pictures))]
        r = rng.integers(picture.shape[0] - rows)
        c = rng.integers(picture.shape[1] - cols)
        crops.append(picture[r : r + rows, c : c + cols])
    images = np.concatenate([noise, np.stack(crops)]) if crops else noise
    return images[rng.permutation(n)]


def _bench_space(space, images, bins, n_reference, repeats):
    ranges = COLOR_SPACES[space]["ranges"]
    flat_ranges = [bound for pair in ranges for bound in pair]
    converted = convert_color(images, space)
    subset = converted[:n_reference]

    def ours_function():
        color_histogram(convert_color(images, space), bins=bins, ranges=ranges)

    estimator = ColorHistogram(bins=bins, color_space=space, normalize=None).fit(images[:2])

    def calc_hist():
        for image in converted:
            cv2.calcHist([image], [0, 1, 2], None, [bins] * 3, flat_ranges)

    def histogramdd():
        for image in subset:
            np.histogramdd(image.reshape(-1, 3), bins=bins, range=ranges)

    # same numbers first (a benchmark of wrong results is worthless)
    ours = estimator.transform(images[:50])
    for image, row in zip(converted[:50], ours):
        expected = np.histogramdd(image.reshape(-1, 3), bins=bins, range=ranges)[0].ravel()
        if not np.array_equal(row, expected):
            raise RuntimeError(f"ColorHistogram differs from np.histogramdd in {space}")

    n = len(images)
    rates = {
        "ours (color_histogram)": n / _median_seconds(ours_function, repeats),
        "ours (ColorHistogram.transform)": n
        / _median_seconds(lambda: estimator.transform(images), repeats),
        "cv2.calcHist per image": n / _median_seconds(calc_hist, repeats),
        "np.histogramdd per image": len(subset) / _median_seconds(histogramdd, repeats),
    }
    return rates


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=5000)
    parser.add_argument("--n-reference", type=int, default=500, help="images for histogramdd")
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--cols", type=int, default=32)
    parser.add_argument("--bins", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.n_images, args.n_reference, args.rows, args.cols, args.bins, args.repeats) < 1:
        print("error: every count must be >= 1", file=sys.stderr)
        return 2
    if args.rows > 300 or args.cols > 300:
        print(
            "error: --rows and --cols must be <= 300 (crops of skimage pictures)", file=sys.stderr
        )
        return 2
    cv2.setNumThreads(1)
    images = _test_images(args.n_images, args.rows, args.cols, args.seed)
    color_histogram(images[:1], bins=args.bins, ranges=COLOR_SPACES["rgb"]["ranges"])  # compile

    print(
        f"{args.n_images} images {args.rows}x{args.cols} RGB (half noise, half photo crops), "
        f"{args.bins} bins joint, one thread, median of {args.repeats} runs"
    )
    for space in ("rgb", "hsv"):
        try:
            rates = _bench_space(space, images, args.bins, args.n_reference, args.repeats)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        note = " (ours include the RGB->HSV conversion; references get converted images)"
        print(f"\n{space}{note if space == 'hsv' else ''}")
        for name, rate in rates.items():
            print(f"  {name:34s} {rate:12,.0f} images/s")
        ours = rates["ours (color_histogram)"]
        ours_transform = rates["ours (ColorHistogram.transform)"]
        for reference, target in [
            ("np.histogramdd per image", 20),
            ("cv2.calcHist per image", 1.5),
        ]:
            ratio, ratio_transform = ours / rates[reference], ours_transform / rates[reference]
            print(
                f"  vs {reference:31s} {ratio:6.1f}x (transform {ratio_transform:.1f}x), "
                f"target >= {target}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
