"""Time loading a folder of images with pipelines.datasets.load_image_folder.

Prints images/s and seconds for 1 and 2 decoding threads (median of --repeats runs), and the
speed-up of 2 threads over 1, measured in the same run.

Example
-------
    python scripts/bench_load.py ../shared/data/cifar10-train/train --repeats 3
"""

import argparse
import statistics
import sys
import time
import warnings

from pipelines.datasets import load_image_folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a folder in the <class>/<image> layout")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (default: 3)")
    parser.add_argument(
        "--threads", default="1,2", help="comma-separated thread counts (default: 1,2)"
    )
    args = parser.parse_args(argv)
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads takes integers such as 1,2; got {args.threads!r}")

    seconds = {}
    for n_jobs in threads:
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            try:
                with warnings.catch_warnings(record=True):
                    warnings.simplefilter("always")
                    data = load_image_folder(args.folder, n_jobs=n_jobs)
            except ValueError as exc:
                print(f"bench_load.py: {exc}", file=sys.stderr)
                return 1
            runs.append(time.perf_counter() - start)
        seconds[n_jobs] = statistics.median(runs)
        print(
            f"{n_jobs} thread(s): {len(data)} images, {len(data.failures)} failures, "
            f"{seconds[n_jobs]:.2f} s, {len(data) / seconds[n_jobs]:,.0f} images/s "
            f"(median of {args.repeats})",
            flush=True,
        )
    if 1 in seconds and len(seconds) > 1:
        for n_jobs, value in seconds.items():
            if n_jobs != 1:
                print(f"speed-up of {n_jobs} threads over 1: {seconds[1] / value:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
