"""Save an image beside the glyph picture of its HOG (as scikit-image's ``visualize=True``).

Examples::

    python scripts/show_hog.py photo.jpg --out photo_hog.png
    python scripts/show_hog.py photo.jpg --out hog.png --pixels-per-cell 16 16 --orientations 12
"""

import argparse
import sys

import cv2
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", help="image file OpenCV can read")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--orientations", type=int, default=9)
    parser.add_argument(
        "--pixels-per-cell", type=int, nargs=2, default=(8, 8), metavar=("ROWS", "COLS")
    )
    parser.add_argument("--transform-sqrt", action="store_true")
    parser.add_argument("--grey", action="store_true", help="use the grey image (else colour)")
    args = parser.parse_args(argv)

    flags = cv2.IMREAD_GRAYSCALE if args.grey else cv2.IMREAD_COLOR
    image = cv2.imread(args.image, flags)
    if image is None:
        print(f"show_hog: cannot read an image from {args.image!r}", file=sys.stderr)
        return 2
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    from features.hog import hog_image

    try:
        picture = hog_image(
            image,
            orientations=args.orientations,
            pixels_per_cell=tuple(args.pixels_per_cell),
            transform_sqrt=args.transform_sqrt,
        )
    except ValueError as error:
        print(f"show_hog: {error}", file=sys.stderr)
        return 2

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Stretch the glyphs for display: the strongest few percent saturate.
    top = np.percentile(picture, 99.5) or 1.0
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 5 * image.shape[0] / image.shape[1]))
    left.imshow(image, cmap="gray" if image.ndim == 2 else None)
    left.set_title("image")
    right.imshow(np.clip(picture / top, 0, 1), cmap="gray")
    right.set_title(f"HOG, {args.orientations} bins, cells {tuple(args.pixels_per_cell)}")
    for axis in (left, right):
        axis.set_axis_off()
    figure.tight_layout()
    try:
        figure.savefig(args.out, dpi=120)
    except OSError as error:
        print(f"show_hog: cannot write {args.out!r}: {error}", file=sys.stderr)
        return 1
    finally:
        plt.close(figure)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
