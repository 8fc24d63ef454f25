"""Draw the lecture's pictures from the library: FIGURE (or all) as DIR/<figure>.png.

figures (each computed by the library itself, models and features):
  trajectories       optimisers, L-BFGS and Newton on a quadratic, a saddle, a local minimum
                     and Rosenbrock
  loss-curves        the training loss of every optimiser on digits
  schedules          the learning-rate schedules, warm restarts included
  feature-transform  two rings, a linear classifier before and after (x, y) -> (r, theta)
  twenty-lines       the lecture's 20-line network against NeuralNetClassifier, step by step
  no-activation      a deep network without activations is one linear map
  weight-decay       L2 penalty against decoupled weight decay, for SGD and Adam
  hog                HOG glyphs of scikit-image's example images
  bovw               k-means visual words of whitened patches
  color              hue, saturation and value histograms of example images

examples:
  visionfeatures lecture all --out docs/lecture
  visionfeatures lecture twenty-lines --out /tmp/lecture
"""

import time

from ._common import add_verbosity, fail, out_folder, parser_for, setup_logging

# the keys of pipelines.lecture.FIGURES, listed here so that --help imports no matplotlib
NAMES = [
    "trajectories",
    "loss-curves",
    "schedules",
    "feature-transform",
    "twenty-lines",
    "no-activation",
    "weight-decay",
    "hog",
    "bovw",
    "color",
]


def build_parser(prog=None):
    parser = parser_for(__doc__, prog)
    parser.add_argument("figure", choices=[*NAMES, "all"], help="a figure, or all of them")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files")
    parser.add_argument("--dpi", type=int, default=80, help="resolution (default: 80)")
    parser.add_argument(
        "--fast", action="store_true", help="fewer steps and epochs (a quick look; for tests)"
    )
    add_verbosity(parser)
    return parser


def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    setup_logging(args)
    try:
        out = out_folder(args.out)
    except OSError as exc:
        return fail(parser.prog, f"cannot create --out {args.out!r}: {exc.strerror}")

    from ..lecture import draw, save_png

    for name in NAMES if args.figure == "all" else [args.figure]:
        start = time.perf_counter()
        path = out / f"{name}.png"
        save_png(draw(name, fast=args.fast), path, dpi=args.dpi)
        print(f"wrote {path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 0
