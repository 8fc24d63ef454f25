"""Save an image beside the glyph picture of its HOG (scikit-image's visualize=True).

examples:
  visionfeatures show-hog photo.jpg --out photo_hog.png
  visionfeatures show-hog photo.jpg --out hog.png --pixels-per-cell 16 16 --orientations 12
"""

from pathlib import Path

from ._common import (
    add_max_pixels,
    add_verbosity,
    fail,
    interruptible,
    out_folder,
    parser_for,
    setup_logging,
)


def build_parser(prog=None):
    parser = parser_for(__doc__, prog)
    parser.add_argument("image", help="an image file (png, jpg, bmp, tif, webp)")
    parser.add_argument(
        "--out", required=True, help="PNG file to write (its folder is created if needed)"
    )
    parser.add_argument("--orientations", type=int, default=9, help="orientation bins (default: 9)")
    parser.add_argument(
        "--pixels-per-cell",
        type=int,
        nargs=2,
        default=(8, 8),
        metavar=("ROWS", "COLS"),
        help="size of a cell in pixels (default: 8 8)",
    )
    parser.add_argument(
        "--transform-sqrt",
        action="store_true",
        help="take the square root of the image first (gamma compression)",
    )
    parser.add_argument("--grey", action="store_true", help="use the grey image (else colour)")
    add_verbosity(parser)
    add_max_pixels(parser)
    return parser


@interruptible()
def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    prog = parser.prog
    setup_logging(args)

    import numpy as np
    from matplotlib.figure import Figure

    from features import hog_image

    from .._runtime import check_output_file
    from ..datasets import DecodeError, decode_image

    try:  # before any work
        check_output_file(args.out)
    except ValueError as exc:
        return fail(prog, exc, 2)
    try:
        image = decode_image(args.image, grey=args.grey, max_pixels=args.max_pixels)
    except DecodeError as exc:
        return fail(prog, f"cannot read an image from {args.image!r}: {exc}", 2)
    try:
        picture = hog_image(
            image,
            orientations=args.orientations,
            pixels_per_cell=tuple(args.pixels_per_cell),
            transform_sqrt=args.transform_sqrt,
        )
    except ValueError as error:
        return fail(prog, error, 2)

    # Stretch the glyphs for display: the strongest few percent saturate.
    top = np.percentile(picture, 99.5) or 1.0
    figure = Figure(figsize=(10, 5 * image.shape[0] / image.shape[1]), layout="tight")
    left, right = figure.subplots(1, 2)
    left.imshow(image, cmap="gray" if image.ndim == 2 else None)
    left.set_title("image")
    right.imshow(np.clip(picture / top, 0, 1), cmap="gray")
    right.set_title(f"HOG, {args.orientations} bins, cells {tuple(args.pixels_per_cell)}")
    for axis in (left, right):
        axis.set_axis_off()
    try:
        out_folder(Path(args.out).parent)
        figure.savefig(args.out, dpi=120)
    except OSError as error:
        return fail(prog, f"cannot write {args.out!r}: {error}")
    print(f"wrote {args.out}")
    return 0
