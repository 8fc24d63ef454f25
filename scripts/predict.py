"""Predict the class of image files with a model file; print CSV path,class,probability,error.

Each image is decoded as the training images were (grey or RGB) and resized to their size
when it differs. probability is that of the predicted class when the model gives
probabilities (softmax, neural network), else empty (linear SVM). A file that cannot be read
as an image gets a line with its error and the exit code is 1; the others are still predicted.
Model files must be skops files holding only trusted types; a pickle needs --allow-pickle.

Examples
--------
    python scripts/predict.py digits.skops seven.png two.png > predictions.csv
"""

import argparse
import csv
import sys

from pipelines.model_files import load_model, predict_files


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[1],
    )
    parser.add_argument("model", metavar="MODEL", help="a model file written by train.py")
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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        content = load_model(args.model, trusted=args.trust, allow_pickle=args.allow_pickle)
    except (OSError, ValueError) as exc:
        print(f"predict.py: {exc}", file=sys.stderr)
        return 1
    rows = predict_files(content, args.images)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["path", "class", "probability", "error"])
    for row in rows:
        probability = "" if row["probability"] is None else f"{row['probability']:.6f}"
        writer.writerow([row["path"], row["class"] or "", probability, row["error"] or ""])
    failed = [row for row in rows if row["error"]]
    if failed:
        print(
            f"predict.py: {len(failed)} of {len(rows)} files could not be predicted",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
