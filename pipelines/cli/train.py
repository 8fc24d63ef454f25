"""Fit a named pipeline on labelled images and save it, with its class names, as a model file.

A progress bar on stderr follows the steps (load, fit, save) and the epochs of the neural
networks; -q hides it. The folder of --out is created if needed.

examples:
  visionfeatures train --pipeline pixels-softmax --dataset digits --out digits.skops
  visionfeatures train --pipeline hog-svm --data ~/photos --size 64,64 --out photos.skops
"""

import time

from ._common import (
    add_max_pixels,
    add_verbosity,
    check_pipeline,
    fail,
    interruptible,
    parser_for,
    setup_logging,
    size_pair,
)

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
    add_verbosity(parser)
    return parser


@interruptible()
def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_pipeline(parser, args.pipeline)
    progress = setup_logging(args)

    from .._runtime import check_output_file

    try:  # before any work: a fit of minutes must not end in "cannot write"
        check_output_file(args.out)
    except ValueError as exc:
        return fail(parser.prog, exc, 2)

    from tqdm.auto import tqdm

    from ..compare import epoch_progress
    from ..datasets import check_size, load_labelled
    from ..model_files import save_model
    from ..registry import make_for

    try:
        check_size(args.size, args.max_pixels)
    except ValueError as exc:
        return fail(parser.prog, f"--size: {exc}", 2)
    bar = tqdm(total=3, desc=f"train {args.pipeline}", unit="step", disable=not progress)
    try:
        with bar:
            bar.set_postfix_str("load")
            data = load_labelled(
                args.dataset, args.data, size=args.size, max_pixels=args.max_pixels
            )
            bar.update()
            bar.set_postfix_str(f"fit on {len(data)} images")
            start = time.perf_counter()
            model = make_for(args.pipeline, data.images)
            with epoch_progress(model, enabled=progress):
                model.fit(data.images, data.labels)
            seconds = time.perf_counter() - start
            bar.update()
            bar.set_postfix_str("save")
            path = save_model(
                model,
                args.out,
                class_names=data.class_names,
                input_shape=data.images.shape[1:],
                format=args.format,
            )
            bar.update()
            bar.set_postfix_str("")
    except (OSError, ValueError) as exc:
        return fail(parser.prog, exc)
    print(
        f"fitted {args.pipeline} on {len(data)} images ({len(data.class_names)} classes) "
        f"in {seconds:.1f} s -> {path}"
    )
    return 0
