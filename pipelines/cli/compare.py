"""Compare named pipelines on one data set: the library's main job.

Fits every chosen pipeline on the training images, scores it on the test images and prints a
table (accuracy, macro-F1, fit seconds, prediction images/s, feature dimension). Writes
results.csv, results.md, accuracy.png (accuracy of each pipeline, with the chance level),
speed.png (accuracy against fit time and prediction speed) and confusion-<pipeline>.png to
--out (created if needed). A progress bar on stderr follows the pipelines (and the epochs of
the neural networks); -q hides it.

examples:
  visionfeatures compare                              # every pipeline on digits
  visionfeatures compare --pipelines pixels-svm,hog-svm --data ~/images --out results
"""

import logging
import time
from pathlib import Path

from ..registry import available
from ._common import (
    add_max_pixels,
    add_verbosity,
    fail,
    interruptible,
    parser_for,
    setup_logging,
    size_pair,
)

logger = logging.getLogger(__name__)


def build_parser(prog=None):
    parser = parser_for(__doc__, prog, pipelines=True)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        choices=["digits"],
        default=None,
        help="a data set shipped with scikit-learn (default: digits, when --data is not given)",
    )
    source.add_argument(
        "--data",
        metavar="FOLDER",
        help="a folder of images: FOLDER/train/<class>/<image> and FOLDER/test/<class>/<image> "
        "as a given split, or FOLDER/<class>/<image> split by --test-size",
    )
    parser.add_argument(
        "--pipelines",
        default="all",
        help="comma-separated pipeline names (default: all; see the list above)",
    )
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    parser.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="fraction held out for testing, stratified, when there is no given split "
        "(default: 0.2)",
    )
    parser.add_argument(
        "--random-state", type=int, default=0, help="seed of that split (default: 0)"
    )
    parser.add_argument(
        "--size", type=size_pair, default=None, metavar="ROWS,COLS", help="resize images on loading"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=-1, help="threads for decoding images (default: -1, all)"
    )
    add_verbosity(parser)
    add_max_pixels(parser)
    return parser


@interruptible()
def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    prog = parser.prog
    names = available() if args.pipelines == "all" else args.pipelines.split(",")
    unknown = [name for name in names if name not in available()]
    if unknown:
        parser.error(f"unknown pipeline(s) {', '.join(unknown)}; see --help for the list")
    if not 0 < args.test_size < 1:
        parser.error(f"--test-size must be between 0 and 1; got {args.test_size}")
    progress = setup_logging(args)

    from .._runtime import check_output_folder

    try:  # before any work
        check_output_folder(args.out)
    except ValueError as exc:
        return fail(prog, exc, 2)

    from ..compare import compare, format_table, write_report
    from ..datasets import load_dataset, load_split, split_dataset

    start = time.perf_counter()
    try:
        if args.data:
            train, test = load_split(
                args.data,
                test_size=args.test_size,
                random_state=args.random_state,
                size=args.size,
                n_jobs=args.n_jobs,
                max_pixels=args.max_pixels,
            )
            name = Path(args.data).name
        else:
            data = load_dataset(args.dataset or "digits")
            train, test = split_dataset(
                data, test_size=args.test_size, random_state=args.random_state
            )
            name = args.dataset or "digits"
    except (ValueError, OSError) as exc:
        return fail(prog, exc)
    title = f"{name}: {len(train)} train / {len(test)} test images"
    logger.info("%s (loaded in %.1f s)", title, time.perf_counter() - start)

    rows = compare(names, train, test, progress=progress)
    print(f"# {title}\n")
    print(format_table(rows), flush=True)
    written = write_report(rows, args.out, train.class_names, title=title)
    logger.info("wrote %d files to %s/", len(written), args.out)
    failed = [row["pipeline"] for row in rows if str(row["note"]).startswith("failed")]
    if failed:
        return fail(prog, f"{len(failed)} pipeline(s) failed: {', '.join(failed)}")
    return 0
