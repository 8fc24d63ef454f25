"""Fit a named pipeline on labelled images and save it, with its class names, as a model file.

Examples
--------
    python scripts/train.py --pipeline pixels-softmax --dataset digits --out digits.skops
    python scripts/train.py --pipeline hog-svm --data ~/photos --size 64,64 --out photos.skops
"""

import sys
import time

from pipelines import available
from pipelines._cli import pipeline_parser, size_pair
from pipelines.model_files import FORMATS, save_model
from pipelines.search import load_labelled, make_for


def build_parser():
    parser = pipeline_parser(__doc__)
    parser.add_argument("--pipeline", required=True, help="a pipeline name (see above)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=["digits"], help="default: digits")
    source.add_argument("--data", metavar="FOLDER", help="FOLDER/<class>/<image>")
    parser.add_argument("--size", type=size_pair, metavar="ROWS,COLS", help="resize on loading")
    parser.add_argument("--out", required=True, metavar="MODEL", help="the model file to write")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="skops",
        help="skops (default; safe to share) or pickle (only for your own use)",
    )
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.pipeline not in available():
        parser.error(f"unknown pipeline {args.pipeline!r}; see --help for the list")
    try:
        data = load_labelled(args.dataset, args.data, size=args.size)
        start = time.perf_counter()
        model = make_for(args.pipeline, data.images).fit(data.images, data.labels)
        seconds = time.perf_counter() - start
        path = save_model(
            model,
            args.out,
            class_names=data.class_names,
            input_shape=data.images.shape[1:],
            format=args.format,
        )
    except (OSError, ValueError) as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 1
    print(
        f"fitted {args.pipeline} on {len(data)} images ({len(data.class_names)} classes) "
        f"in {seconds:.1f} s -> {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
