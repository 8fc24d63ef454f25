"""Search the parameters of a named pipeline by cross-validation, with cached features.

Writes cv_results.csv, best_params.json, heatmap.png (two-parameter grids) and the refitted
best pipeline (best_model.skops) to --out (created if needed), and prints the score and the
seconds of each candidate. A progress bar on stderr counts the candidates and shows the best
score so far; -q hides it.

examples:
  visionfeatures search --pipeline hog-svm --dataset digits \\
      --grid '{"clf__C": [0.0001, 0.001, 0.01, 0.1]}' --out search-hog
  visionfeatures search --pipeline hog-svm --data ~/photos --size 64,64 \\
      --grid grid.yaml --n-iter 20 --backend dask --scheduler tcp://10.0.0.5:8786 --out s
"""

from ._common import (
    add_max_pixels,
    add_verbosity,
    check_pipeline,
    fail,
    interruptible,
    parser_for,
    positive_int,
    setup_logging,
    size_pair,
)


def build_parser(prog=None):
    parser = parser_for(__doc__, prog, pipelines=True)
    parser.add_argument("--pipeline", required=True, help="a pipeline name (see above)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=["digits"], help="default: digits")
    source.add_argument("--data", metavar="FOLDER", help="FOLDER/<class>/<image>")
    parser.add_argument("--size", type=size_pair, metavar="ROWS,COLS", help="resize on loading")
    parser.add_argument(
        "--grid",
        required=True,
        help="inline JSON such as '{\"clf__C\": [0.01, 0.1, 1]}', or a JSON/YAML file",
    )
    parser.add_argument("--cv", type=positive_int, default=5, help="folds (default: 5)")
    parser.add_argument(
        "--n-iter", type=positive_int, default=None, help="randomised search with N candidates"
    )
    parser.add_argument("--scoring", default=None, help="a scikit-learn scorer (default: accuracy)")
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel fits (default: 1)")
    parser.add_argument(
        "--backend",
        choices=["loky", "dask"],
        default="loky",
        help="how the fits run: local processes (loky) or a dask cluster (default: loky)",
    )
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a running dask scheduler")
    parser.add_argument("--no-cache", action="store_true", help="extract features every fit")
    parser.add_argument(
        "--cache-dir",
        metavar="FOLDER",
        help="keep the feature cache here (on a cluster: shared storage); default: a temporary "
        "folder for local processes, memory for a remote scheduler",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed of the folds")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_verbosity(parser)
    add_max_pixels(parser)
    return parser


@interruptible()
def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    prog = parser.prog
    check_pipeline(parser, args.pipeline)
    if args.scheduler and args.backend != "dask":
        parser.error("--scheduler needs --backend dask")
    progress = setup_logging(args)

    from .._runtime import check_output_folder

    try:  # before any work
        check_output_folder(args.out)
        if args.cache_dir:
            check_output_folder(args.cache_dir)
    except ValueError as exc:
        return fail(prog, exc, 2)

    from ..datasets import load_labelled
    from ..model_files import save_model
    from ..search import (
        cache_events,
        candidate_seconds,
        clear_memory_cache,
        features_seconds,
        format_params,
        parse_grid,
        search,
        write_search_report,
    )

    try:
        grid = parse_grid(args.grid)
    except ValueError as exc:
        return fail(prog, exc, 2)
    clear_memory_cache()
    try:
        data = load_labelled(args.dataset, args.data, size=args.size, max_pixels=args.max_pixels)
        result = search(
            args.pipeline,
            data.images,
            data.labels,
            grid,
            cv=args.cv,
            n_iter=args.n_iter,
            scoring=args.scoring,
            n_jobs=args.n_jobs,
            backend=args.backend,
            scheduler=args.scheduler,
            cache=not args.no_cache,
            cache_dir=args.cache_dir,
            random_state=args.random_state,
            progress=progress,
        )
    except (OSError, ValueError, ImportError) as exc:
        return fail(prog, exc)
    written = write_search_report(result, args.out)
    model_path = save_model(
        result.best_pipeline,
        f"{args.out}/best_model.skops",
        class_names=data.class_names,
        input_shape=data.images.shape[1:],
    )
    seconds = candidate_seconds(result.cv_results)
    for params, cost, score in zip(
        result.cv_results["params"], seconds, result.cv_results["mean_test_score"], strict=True
    ):
        print(f"{cost:8.3f} s  {result.scoring} {score:.4f}  {format_params(params)}")
    if len(seconds) > 1:
        later = seconds[1:]
        print(
            f"first candidate {seconds[0]:.3f} s; later ones {later.mean():.3f} s on average "
            f"({100 * later.mean() / seconds[0]:.0f}% of the first, at most "
            f"{100 * later.max() / seconds[0]:.0f}%)"
        )
    sequential = args.backend == "loky" and args.n_jobs == 1 and not args.no_cache
    if sequential and len(seconds) > 1:
        steps = features_seconds(cache_events(), len(seconds), args.cv)
        print(
            f"features step: first candidate {steps[0]:.3f} s; later ones {steps[1:].mean():.4f} s"
            f" on average ({100 * steps[1:].max() / steps[0]:.1f}% of the first at most)"
        )
    print(
        f"best {format_params(result.best_params)}: {result.scoring} {result.best_score:.4f} "
        f"in {result.seconds:.1f} s"
    )
    print(f"wrote {len(written) + 1} files to {args.out}/ ({model_path.name}, ...)")
    return 0
