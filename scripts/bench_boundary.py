"""Measurements at the library's edges: concurrent runs, decoding memory, small folders.

concurrent  two extractions into one output folder started at the same moment, --repeats
            times: each time, one result must be byte-for-byte the one an uninterrupted run
            gives and the other job must wait or be refused (one line on stderr); a zero row
            anywhere is a failure. Prints one line a repetition and a summary.
rss         peak resident memory (ru_maxrss of a child process) while decoding a folder with
            pipelines.datasets.decode_images, once as it is and once with a 20000 x 20000 PNG
            added (about 390 KB on disk, 1.2 GB decoded): the image over --max-pixels must be a
            listed failure that costs no memory.
small       the default worker choice against --n-jobs 1 on a small folder: median seconds of
            --repeats runs of the command each (in subprocesses, interleaved), as the whole
            command (imports included) and as the job alone (the manifest's total_seconds).

Examples
--------
    python scripts/bench_boundary.py concurrent --repeats 20
    python scripts/bench_boundary.py rss
    python scripts/bench_boundary.py small --images 300 --repeats 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main())"]


def _env():
    return {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}


def make_folder(root, n_images, shape=(32, 32, 3), classes=3, seed=0):
    """``n_images`` random PNGs of ``shape`` in ``classes`` class folders."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for i in range(n_images):
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        ok, data = cv2.imencode(".png", image)
        (folder / f"{i:05d}.png").write_bytes(data.tobytes())
    return root


def _extract_command(folder, out, extra=()):
    return CLI + ["extract", str(folder), "--out", str(out), "--quiet", *extra]


def concurrent(args):
    with tempfile.TemporaryDirectory(prefix="bench-boundary-") as tmp:
        tmp = Path(tmp)
        folder = make_folder(tmp / "images", args.images)
        extra = ["--chunk-size", str(args.chunk_size), "--features", args.features]
        reference = tmp / "reference"
        subprocess.run(_extract_command(folder, reference, extra), env=_env(), check=True)
        expected = (reference / "features.npy").read_bytes()
        good = 0
        for repeat in range(args.repeats):
            out = tmp / f"out{repeat}"
            jobs = [
                subprocess.Popen(
                    _extract_command(folder, out, extra),
                    env=_env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                for _ in range(2)
            ]
            results = [(job.wait(), *job.communicate()) for job in jobs]
            codes = [code for code, _, _ in results]
            errors = [err.decode().strip() for _, _, err in results]
            features = out / "features.npy"
            same = features.exists() and features.read_bytes() == expected
            rows = np.load(features) if features.exists() else np.zeros((0, 0))
            zero_rows = int((~rows.any(axis=1)).sum()) if rows.size else -1
            manifest = out / "manifest.json"
            complete = manifest.exists() and json.loads(manifest.read_text())["n_images"] == len(
                rows
            )
            other = [
                e.splitlines()[-1] if e else "(waited, then found it complete)" for e in errors
            ]
            ok = same and complete and zero_rows == 0 and sorted(codes) in ([0, 0], [0, 1])
            good += ok
            print(
                f"{repeat + 1:2d}: exit codes {codes}, identical to the reference: {same}, "
                f"zero rows: {zero_rows}, {'ok' if ok else 'FAILED'}; "
                f"other job: {[o for o, c in zip(other, codes) if c] or 'exit 0'}",
                flush=True,
            )
        print(f"{good} of {args.repeats} repetitions correct")
        return 0 if good == args.repeats else 1


_RSS_CHILD = """
import resource, sys
from pathlib import Path
from pipelines.datasets import decode_images
paths = sorted(str(p) for p in Path(sys.argv[1]).rglob("*.png"))
images, failures = decode_images(paths, n_jobs=int(sys.argv[2]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak, sum(i is not None for i in images), len(failures), repr(failures[:1]))
"""


def rss(args):
    with tempfile.TemporaryDirectory(prefix="bench-boundary-") as tmp:
        tmp = Path(tmp)
        folder = make_folder(tmp / "images", args.images, shape=(256, 256, 3))
        big = np.zeros((20000, 20000), dtype=np.uint8)
        ok, data = cv2.imencode(".png", big, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        del big
        big_file = tmp / "big.png"
        big_file.write_bytes(data.tobytes())
        print(f"20000 x 20000 PNG: {big_file.stat().st_size / 1e3:.0f} KB on disk")
        peaks = {}
        for label in ("without", "with"):
            if label == "with":
                (folder / "class0" / "big.png").write_bytes(big_file.read_bytes())
            values = []
            for _ in range(args.repeats):
                line = subprocess.run(
                    [sys.executable, "-c", _RSS_CHILD, str(folder), str(args.n_jobs)],
                    env=_env(),
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.split(maxsplit=3)
                values.append(int(line[0]) / 1024)
            peaks[label] = statistics.median(values)
            print(
                f"{label:7s} the big PNG: peak RSS {peaks[label]:.1f} MB (median of "
                f"{args.repeats}), {line[1]} images decoded, {line[2]} failures {line[3]}"
            )
        ratio = peaks["with"] / peaks["without"]
        print(f"with / without: {ratio:.3f} ({100 * (ratio - 1):+.1f} %)")
        return 0 if ratio <= 1.10 else 1


def small(args):
    with tempfile.TemporaryDirectory(prefix="bench-boundary-") as tmp:
        tmp = Path(tmp)
        folder = make_folder(tmp / "images", args.images, shape=(64, 64, 3))
        labels = ("default", "--n-jobs 1")
        wall, job, workers = ({k: [] for k in labels} for _ in range(3))
        for repeat in range(args.repeats):
            for label, extra in zip(labels, ([], ["--n-jobs", "1"]), strict=True):
                out = tmp / f"out-{repeat}-{len(extra)}"
                command = _extract_command(folder, out, ["--features", args.features, *extra])
                start = time.perf_counter()
                subprocess.run(command, env=_env(), check=True, capture_output=True)
                wall[label].append(time.perf_counter() - start)
                manifest = json.loads((out / "manifest.json").read_text())
                job[label].append(manifest["timings"]["total_seconds"])
                workers[label].append(manifest["run"].get("workers", "n/a"))
        for label in labels:
            print(
                f"{label:11s} command {statistics.median(wall[label]):.2f} s, job "
                f"{statistics.median(job[label]):.3f} s (medians of {args.repeats}; workers "
                f"{sorted(set(workers[label]))}); job seconds: "
                + ", ".join(f"{v:.2f}" for v in job[label])
            )
        ratios = {
            name: statistics.median(values[labels[0]]) / statistics.median(values[labels[1]])
            for name, values in (("command", wall), ("job", job))
        }
        print(f"default / --n-jobs 1: command {ratios['command']:.3f}, job {ratios['job']:.3f}")
        return 0 if min(ratios.values()) <= 1.10 else 1


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("concurrent", help="two extractions into one folder, repeated")
    one.add_argument("--repeats", type=int, default=20)
    one.add_argument("--images", type=int, default=600)
    one.add_argument("--chunk-size", type=int, default=50)
    one.add_argument("--features", default="pixels,hog")
    two = sub.add_parser("rss", help="peak RSS of decoding with and without a 20000x20000 PNG")
    two.add_argument("--images", type=int, default=200)
    two.add_argument("--n-jobs", type=int, default=2)
    two.add_argument("--repeats", type=int, default=3)
    three = sub.add_parser("small", help="default worker choice against --n-jobs 1")
    three.add_argument("--images", type=int, default=300)
    three.add_argument("--features", default="hog,color")
    three.add_argument("--repeats", type=int, default=5)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return {"concurrent": concurrent, "rss": rss, "small": small}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
