"""Extract the features of a folder of images into DIR: features.npy, labels, paths, manifest.

Resumable: run the same command again after an interruption (Ctrl-C, even kill -9) and only
the missing chunks are done; the result is the same bytes as an uninterrupted run, whatever
--n-jobs and --backend. Run again after files were added to, removed from or changed in INPUT
and only those are read (see the README). DIR is locked while a job writes it: a second job
on the same DIR stops at once (or waits, with --wait).

examples:
  visionfeatures extract ~/photos --out photos-hog --features hog,color \\
      --param hog.pixels_per_cell=4,4 --size 64,64 --n-jobs 2
  visionfeatures extract ~/photos --out photos-hog --config features.yaml \\
      --backend dask --scheduler tcp://10.0.0.5:8786
"""

import argparse
import json
from pathlib import Path

from .._runtime import BACKENDS
from ..registry import EXTRACTORS, check_feature_spec
from ._common import (
    add_max_pixels,
    add_verbosity,
    fail,
    interruptible,
    parser_for,
    positive_int,
    setup_logging,
    size_pair,
)


def n_jobs_value(text):
    """argparse type: "auto", or a non-zero int (joblib's convention: -1 is all cores)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected auto or a non-zero integer; got {text!r}")
    return value


def add_run_options(parser):
    """The options of a folder job shared by extract and features."""
    parser.add_argument(
        "--chunk-size", type=positive_int, default=256, help="files per chunk (default: 256)"
    )
    parser.add_argument(
        "--n-jobs",
        type=n_jobs_value,
        default="auto",
        help="worker processes, at most one per core and per chunk; -1: one per core "
        "(default: auto, in this process unless the folder takes more than a few seconds)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="loky",
        help="how the workers run: processes (loky), threads, or a dask cluster (default: loky)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running dask scheduler (with --backend dask; without it a local cluster starts)",
    )
    add_max_pixels(parser)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a run made with other arguments in DIR"
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait while another job writes DIR (default: stop)"
    )
    add_verbosity(parser)


def build_parser(prog=None):
    parser = parser_for(__doc__, prog)
    listing = "\n".join(f"  {name:8s} {entry.description}" for name, entry in EXTRACTORS.items())
    parser.epilog = f"features:\n{listing}\n\n{parser.epilog}"
    parser.add_argument("input", metavar="INPUT", help="INPUT/<class>/<image> or a flat folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--features",
        default=None,
        help="comma-separated feature names (default: those of --config, else pixels)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="an extractor parameter, e.g. hog.pixels_per_cell=4,4 (repeatable)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help='JSON or YAML file {feature: {parameter: value}}, e.g. {"hog": {"orientations": 12}}',
    )
    parser.add_argument(
        "--size",
        type=size_pair,
        metavar="ROWS,COLS",
        help="resize every image (default: keep the folder's most common size; other sizes "
        "are failures)",
    )
    parser.add_argument(
        "--fit-sample",
        type=positive_int,
        default=1000,
        help="files used to fit extractors that learn, such as bovw (default: 1000)",
    )
    add_run_options(parser)
    return parser


def parse_value(text):
    """Parse the value of a ``--param name.key=value`` option.

    JSON first (numbers, ``true``, ``null``, lists), then ``none``; a comma-separated list
    becomes a tuple of parsed values; anything else stays a string.

    Examples
    --------
    >>> from pipelines.cli.extract import parse_value
    >>> parse_value("4,4"), parse_value("1e-3"), parse_value("true"), parse_value("hsv")
    ((4, 4), 0.001, True, 'hsv')
    """
    text = text.strip()
    if "," in text and not text.startswith(("[", "{", '"')):
        return tuple(parse_value(part) for part in text.split(","))
    if text.lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_features(names, params=(), config=None):
    """Build the feature specification ``{name: {parameter: value}}`` from command-line input.

    Parameters
    ----------
    names : str or list of str or None
        Feature names, e.g. "hog,color"; None takes the names of ``config`` (or "pixels").
    params : list of str
        ``name.key=value`` settings, e.g. "hog.pixels_per_cell=4,4"; they override ``config``.
    config : dict or None
        ``{name: {key: value}}``, as read from a JSON or YAML file.

    Returns
    -------
    spec : dict
        Feature name to parameters, in the order given; lists become tuples.

    Raises
    ------
    ValueError
        For a malformed setting, a setting of a feature that is not chosen, an unknown feature
        or an unknown parameter.

    Examples
    --------
    >>> from pipelines.cli.extract import parse_features
    >>> parse_features("pixels", ["pixels.grey=true"])
    {'pixels': {'grey': True}}
    """
    config = dict(config or {})
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        names = list(config) or ["pixels"]
    spec = {}
    for name in names:
        settings = config.get(name) or {}
        if not isinstance(settings, dict):
            raise ValueError(
                f"The settings of feature {name!r} must be a mapping of parameters; "
                f"got {settings!r}."
            )
        spec[name] = {key: _tuples(value) for key, value in settings.items()}
    for item in params:
        target, sep, value = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise ValueError(f"Expected a setting NAME.PARAMETER=VALUE; got {item!r}.")
        if name not in spec:
            raise ValueError(
                f"Setting {item!r} is for feature {name!r}, which is not among the chosen "
                f"features ({', '.join(spec)})."
            )
        spec[name][key] = _tuples(parse_value(value))
    check_feature_spec(spec)
    return spec


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def read_config(path):
    """The ``{feature: {parameter: value}}`` mapping of a JSON or YAML file.

    Raises a one-line ``ValueError`` for a file that cannot be read or parsed, or that holds
    something else.
    """
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ValueError(f"Cannot read config file {path!r}: {reason}.") from None
    try:
        config = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ValueError(
            f"Config file {path!r} is not valid YAML or JSON{at}: {problem}."
        ) from None
    if not isinstance(config, dict):
        raise ValueError(
            f"Config file {path!r} must hold a mapping {{feature: {{parameter: value}}}}; "
            f"got {type(config).__name__}."
        )
    return config


def report(prog, manifest, out):
    """Print an extraction's failures (the first five) on stderr and its summary line."""
    from ..batch import summary_line

    for failure in manifest["failures"][:5]:
        fail(prog, f"failed: {_shown(failure['path'])}: {failure['reason']}")
    if manifest["n_failures"] > 5:
        fail(prog, f"... and {manifest['n_failures'] - 5} more (see manifest.json)")
    print(f"{summary_line(manifest)} -> {out}")


def _shown(name):
    """A file name on one printable line: as it is, or quoted with escapes (newlines, bytes
    that are not UTF-8)."""
    return name if name.isprintable() else ascii(name)


def run_folder_job(prog, out, job):
    """Run ``job()`` (a folder job returning its manifest), report it, return the exit code."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    try:
        manifest = job()
    except (OSError, ValueError, ImportError) as exc:
        return fail(prog, exc)
    except TerminatedWorkerError as exc:  # killed, maybe by the kernel for lack of memory
        return fail(
            prog,
            f"a worker process ended abruptly ({exc}); the chunks finished so far are kept: "
            "run the same command again to resume",
        )
    report(prog, manifest, out)
    return 0


@interruptible(resumes=True)
def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    prog = parser.prog
    if args.scheduler and args.backend != "dask":
        parser.error("--scheduler needs --backend dask")
    progress = setup_logging(args)
    from .._runtime import check_output_folder

    try:  # before any work
        check_output_folder(args.out, create=False)
        config = read_config(args.config) if args.config else None
        spec = parse_features(args.features, args.param, config)
    except (OSError, ValueError) as exc:
        return fail(prog, exc, 2)

    from ..batch import extract_folder
    from ..datasets import check_size

    try:
        check_size(args.size, args.max_pixels)
    except ValueError as exc:
        return fail(prog, f"--size: {exc}", 2)
    return run_folder_job(
        prog,
        args.out,
        lambda: extract_folder(
            args.input,
            args.out,
            features=spec,
            size=args.size,
            chunk_size=args.chunk_size,
            fit_sample=args.fit_sample,
            n_jobs=args.n_jobs,
            backend=args.backend,
            scheduler=args.scheduler,
            overwrite=args.overwrite,
            progress=progress,
            max_pixels=args.max_pixels,
            wait=args.wait,
        ),
    )
