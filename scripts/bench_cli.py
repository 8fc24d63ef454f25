"""How fast ``visionfeatures --help`` answers as a user installs it: a fresh virtual
environment, the built wheel (``pip install``, not editable), then the median of several
runs of ``visionfeatures --help`` and of each subcommand's ``--help``.

Steps, each printed as it runs:

1. build the wheel of this source tree (``pip wheel --no-deps``) and list what it holds;
2. create a virtual environment in a temporary folder (or reuse ``--venv``) and install
   the wheel with its dependencies (``pip install WHEEL``);
3. from a folder outside the source tree, run each ``--help`` once to warm the disk cache,
   then ``--repeats`` times, timing the whole process (interpreter start included);
4. print a table: median, fastest and slowest seconds, and whether the median is under the
   limit (0.5 s); beside it, the same interpreter's bare start and ``import sklearn``, the
   floor and what --help would cost if it imported the library.

Exit code 0 when every median is under the limit, 1 otherwise.

examples:
  python scripts/bench_cli.py                       # build, install, time (a few minutes)
  python scripts/bench_cli.py --venv /tmp/vf-bench  # keep that environment for the next run
  python scripts/bench_cli.py --venv /tmp/vf-bench --no-install --repeats 15
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 0.5  # seconds: the bound for every --help


def build_parser():
    parser = argparse.ArgumentParser(
        prog="bench_cli.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--venv",
        metavar="DIR",
        help="the virtual environment to create and keep (default: a temporary one, removed)",
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="use --venv as it is (already holding the installed wheel)",
    )
    parser.add_argument("--repeats", type=int, default=9, help="timed runs of each (default: 9)")
    return parser


def run(argv, **kwargs):
    """Run ``argv``, raising with its output if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def build_wheel(folder):
    """Build this tree's wheel into ``folder``; print its contents in short; return its path."""
    start = time.perf_counter()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", folder, ROOT])
    (wheel,) = Path(folder).glob("visionfeatures-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if "entry_points" in n)
    tops = sorted({n.split("/")[0] for n in names})
    licensed = any(n.endswith("/LICENSE") for n in names)
    print(f"built {wheel.name} in {time.perf_counter() - start:.1f} s: {len(names)} files")
    print(f"  top-level: {', '.join(tops)}; LICENSE: {'yes' if licensed else 'NO'}")
    print(f"  console_scripts: {entry_points.split(']', 1)[1].strip()}")
    return wheel


def install(venv, wheel):
    """Create ``venv`` and install ``wheel`` with its dependencies (not editable)."""
    start = time.perf_counter()
    run([sys.executable, "-m", "venv", venv])
    pip = [str(Path(venv) / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "install", "--quiet", str(wheel)])
    version = run([*pip, "show", "visionfeatures"]).split("Location: ")[1].splitlines()[0]
    print(f"installed into {venv} in {time.perf_counter() - start:.0f} s (from {version})")


def timings(argv, repeats, cwd):
    """Seconds of ``repeats`` runs of ``argv`` (after one untimed run), each a new process."""
    run(argv, cwd=cwd)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(argv, cwd=cwd)
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.repeats < 1:
        print("bench_cli.py: --repeats must be >= 1", file=sys.stderr)
        return 2
    if args.no_install and not args.venv:
        print("bench_cli.py: --no-install needs --venv", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        venv = Path(args.venv or Path(tmp) / "venv").resolve()
        try:
            if not args.no_install:
                install(venv, build_wheel(tmp))
            python, command = venv / "bin" / "python", venv / "bin" / "visionfeatures"
            names = run(
                [python, "-c", "from pipelines.cli import COMMANDS; print(*COMMANDS)"], cwd=tmp
            ).split()
            rows = [("python -c pass", [python, "-c", "pass"])]
            rows.append(("python -c 'import sklearn'", [python, "-c", "import sklearn"]))
            rows.append(("visionfeatures --help", [command, "--help"]))
            rows += [(f"visionfeatures {name} --help", [command, name, "--help"]) for name in names]
            print(f"\nmedian of {args.repeats} runs, seconds (limit {LIMIT} s for --help):")
            print(f"{'command':42s} {'median':>7s} {'min':>7s} {'max':>7s}")
            slow = []
            for label, command_line in rows:
                seconds = timings(command_line, args.repeats, tmp)
                median = statistics.median(seconds)
                verdict = ""
                if "--help" in label:
                    verdict = "ok" if median < LIMIT else "SLOW"
                    if median >= LIMIT:
                        slow.append(label)
                print(
                    f"{label:42s} {median:7.3f} {min(seconds):7.3f} {max(seconds):7.3f}  {verdict}",
                    flush=True,
                )
        except RuntimeError as error:
            print(f"bench_cli.py: {error}", file=sys.stderr)
            return 1
    if slow:
        print(f"\nover {LIMIT} s: {', '.join(slow)}")
        return 1
    print(f"\nevery --help under {LIMIT} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
