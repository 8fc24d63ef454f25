"""Extract the features of a folder of images into DIR: features.npy, labels, paths, manifest.

Resumable: run the same command again after an interruption (even kill -9) and only the
missing chunks are done; the result is the same bytes as an uninterrupted run, whatever
--n-jobs and --backend.

Examples
--------
    python scripts/extract_features.py ~/photos --out photos-hog --features hog,color \\
        --param hog.pixels_per_cell=4,4 --size 64,64 --n-jobs 2
    python scripts/extract_features.py ~/photos --out photos-hog --config features.yaml \\
        --backend dask --scheduler tcp://10.0.0.5:8786
"""

import argparse
import sys
from pathlib import Path

from pipelines._cli import positive_int, size_pair
from pipelines.batch import (
    BACKENDS,
    FEATURES,
    available_features,
    extract_folder,
    parse_features,
    summary_line,
)


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"features: {', '.join(FEATURES)} (available here: "
        f"{', '.join(available_features())})",
    )
    parser.add_argument("input", metavar="INPUT", help="INPUT/<class>/<image> or a flat folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--features",
        default=None,
        help="comma-separated feature names (default: those of --config, else pixels)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="an extractor parameter, e.g. hog.pixels_per_cell=4,4 (repeatable)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help='JSON or YAML file {feature: {parameter: value}}, e.g. {"hog": {"orientations": 12}}',
    )
    parser.add_argument("--size", type=size_pair, metavar="ROWS,COLS", help="resize every image")
    parser.add_argument(
        "--chunk-size", type=positive_int, default=256, help="files per chunk (default: 256)"
    )
    parser.add_argument(
        "--fit-sample",
        type=positive_int,
        default=1000,
        help="files used to fit extractors that learn, such as bovw (default: 1000)",
    )
    parser.add_argument("--n-jobs", type=int, default=-1, help="workers (default: -1, all cores)")
    parser.add_argument("--backend", choices=BACKENDS, default="loky")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running dask scheduler (with --backend dask; without it a local cluster starts)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a run made with other arguments in DIR"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _read_config(path):
    import yaml

    text = Path(path).read_text()
    config = yaml.safe_load(text)  # YAML is a superset of JSON
    if not isinstance(config, dict):
        raise ValueError(f"{path!r} must hold a mapping {{feature: {{parameter: value}}}}.")
    return config


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.scheduler and args.backend != "dask":
        parser.error("--scheduler needs --backend dask")
    if args.n_jobs == 0:
        parser.error("--n-jobs must not be 0")
    try:
        config = _read_config(args.config) if args.config else None
        spec = parse_features(args.features, args.param, config)
    except (OSError, ValueError) as exc:
        print(f"extract_features.py: {exc}", file=sys.stderr)
        return 2
    try:
        manifest = extract_folder(
            args.input,
            args.out,
            features=spec,
            size=args.size,
            chunk_size=args.chunk_size,
            fit_sample=args.fit_sample,
            n_jobs=args.n_jobs,
            backend=args.backend,
            scheduler=args.scheduler,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except (OSError, ValueError, ImportError) as exc:
        print(f"extract_features.py: {exc}", file=sys.stderr)
        return 1
    for failure in manifest["failures"][:5]:
        print(f"failed: {failure['path']}: {failure['reason']}", file=sys.stderr)
    if manifest["n_failures"] > 5:
        print(f"... and {manifest['n_failures'] - 5} more (see manifest.json)", file=sys.stderr)
    print(f"{summary_line(manifest)} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
