"""Apply a fitted extractor.skops to a folder of new images: the files extract writes.

EXTRACTOR is the extractor.skops of an extract output folder. The images of INPUT are decoded
as that extraction's images were (resized to its image size when theirs differs), and DIR
receives features.npy, labels.npy, class_names.jsonl, paths.jsonl, extractor.skops and
manifest.json, as extract writes them: an image gives the same row here as there. Resumable
and locked like extract.

examples:
  visionfeatures features photos-hog/extractor.skops ~/new-photos --out new-photos-hog
"""

from ._common import fail, interruptible, parser_for, setup_logging
from .extract import add_run_options, run_folder_job


def build_parser(prog=None):
    parser = parser_for(__doc__, prog)
    parser.add_argument("extractor", metavar="EXTRACTOR", help="an extractor.skops file")
    parser.add_argument("input", metavar="INPUT", help="INPUT/<class>/<image> or a flat folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_run_options(parser)
    return parser


@interruptible(resumes=True)
def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    prog = parser.prog
    if args.scheduler and args.backend != "dask":
        parser.error("--scheduler needs --backend dask")
    progress = setup_logging(args)

    from .._runtime import check_output_folder
    from ..batch import apply_extractor

    try:  # before any work
        check_output_folder(args.out, create=False)
    except ValueError as exc:
        return fail(prog, exc, 2)

    return run_folder_job(
        prog,
        args.out,
        lambda: apply_extractor(
            args.extractor,
            args.input,
            args.out,
            chunk_size=args.chunk_size,
            n_jobs=args.n_jobs,
            backend=args.backend,
            scheduler=args.scheduler,
            overwrite=args.overwrite,
            progress=progress,
            max_pixels=args.max_pixels,
            wait=args.wait,
        ),
    )
