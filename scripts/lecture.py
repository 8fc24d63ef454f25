"""Draw the lecture's pictures from the library: lecture.py FIGURE|all --out DIR.

Each figure is computed by the library itself (models, features) and written to
DIR/<figure>.png:

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

Examples
--------
    python scripts/lecture.py all --out docs/lecture
    python scripts/lecture.py twenty-lines --out /tmp/lecture
"""

import argparse
import sys
import time
from pathlib import Path

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


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("figure", choices=[*NAMES, "all"], help="a figure, or all of them")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files")
    parser.add_argument("--dpi", type=int, default=80, help="resolution (default: 80)")
    parser.add_argument(
        "--fast", action="store_true", help="fewer steps and epochs (a quick look; for tests)"
    )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"lecture.py: cannot create --out {out}: {exc.strerror}", file=sys.stderr)
        return 1
    from pipelines.lecture import FIGURES, draw, save_png

    names = list(FIGURES) if args.figure == "all" else [args.figure]
    for name in names:
        start = time.perf_counter()
        path = out / f"{name}.png"
        save_png(draw(name, fast=args.fast), path, dpi=args.dpi)
        print(f"wrote {path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
