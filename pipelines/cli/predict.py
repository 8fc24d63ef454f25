"""Predict the class of image files with a model file; print CSV path,class,probability,error.

Each image is decoded as the training images were (grey or RGB) and resized to their size
when it differs. probability is that of the predicted class when the model gives
probabilities (softmax, neural network), else empty (linear SVM). A file that cannot be read
as an image gets a line with its error and the exit code is 1; the others are still predicted.
Model files must be skops files holding only trusted types; a pickle needs --allow-pickle.
Over many files a progress bar on stderr counts the images; -q hides it.

examples:
  visionfeatures predict digits.skops seven.png two.png > predictions.csv
"""

import csv
import sys

from ._common import add_max_pixels, add_verbosity, fail, interruptible, parser_for, setup_logging

_CHUNK = 256  # files decoded and predicted at a time: the progress bar moves per chunk


def build_parser(prog=None):
    parser = parser_for(__doc__, prog)
    parser.add_argument("model", metavar="MODEL", help="a model file written by train")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    parser.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="also trust this type named in a refusal (repeatable; only for files you trust)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="read a pickle model file (runs any code in it: only files you made)",
    )
    add_max_pixels(parser)
    add_verbosity(parser)
    return parser


@interruptible()
def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    prog = parser.prog
    progress = setup_logging(args)

    from tqdm.auto import tqdm

    from ..model_files import load_model, predict_files

    try:
        content = load_model(
            args.model,
            trusted=args.trust,
            allow_pickle=args.allow_pickle,
            max_pixels=args.max_pixels,
        )
        rows = []
        # a model file without the training images' shape predicts the images of the first
        # one's shape: that rule is for the whole list, so such a file gets one chunk
        chunk_size = _CHUNK if content.get("input_shape") is not None else len(args.images)
        bar = tqdm(total=len(args.images), desc="predict", unit="image", disable=not progress)
        with bar:
            for start in range(0, len(args.images), chunk_size):
                chunk = args.images[start : start + chunk_size]
                rows += predict_files(
                    content, chunk, max_pixels=args.max_pixels, name=repr(args.model)
                )
                bar.update(len(chunk))
    except (OSError, ValueError) as exc:
        return fail(prog, exc)
    if hasattr(sys.stdout, "reconfigure"):  # a file name that is not UTF-8 keeps its bytes
        sys.stdout.reconfigure(errors="surrogateescape")
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["path", "class", "probability", "error"])
    for row in rows:
        probability = "" if row["probability"] is None else f"{row['probability']:.6f}"
        writer.writerow([row["path"], row["class"] or "", probability, row["error"] or ""])
    failed = [row for row in rows if row["error"]]
    if failed:
        return fail(prog, f"{len(failed)} of {len(rows)} files could not be predicted")
    return 0
