"""Fit a named pipeline on labelled images and save it, with its class names, as a model file.

examples:
  visionfeatures train --pipeline pixels-softmax --dataset digits --out digits.skops
  visionfeatures train --pipeline hog-svm --data ~/photos --size 64,64 --out photos.skops
"""

import time

from ._common import add_max_pixels, check_pipeline, fail, interruptible, parser_for, size_pair

FORMATS = ("skops", "pickle")


def build_parser(prog=None):
    parser = parser_for(__doc__, prog, pipelines=True)
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
    add_max_pixels(parser)
    return parser


@interruptible()
def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_pipeline(parser, args.pipeline)

    from .._runtime import check_output_file

    try:  # before any work: a fit of minutes must not end in "cannot write"
        check_output_file(args.out)
    except ValueError as exc:
        return fail(parser.prog, exc, 2)

    from ..datasets import check_size, load_labelled
    from ..model_files import save_model
    from ..registry import make_for

    try:
        check_size(args.size, args.max_pixels)
    except ValueError as exc:
        return fail(parser.prog, exc, 2)
    try:
        data = load_labelled(args.dataset, args.data, size=args.size, max_pixels=args.max_pixels)
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
        return fail(parser.prog, exc)
    print(
        f"fitted {args.pipeline} on {len(data)} images ({len(data.class_names)} classes) "
        f"in {seconds:.1f} s -> {path}"
    )
    return 0
