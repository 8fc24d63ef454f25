"""Serve model files over HTTP: classes and features of images, batched across requests.

A MODEL is a .skops file from train, search (best_model.skops) or extract (extractor.skops),
named by its file stem, or NAME=PATH; a folder serves every .skops file in it. Every model is
loaded before the server starts: a file that is missing, corrupt or holds an untrusted type
stops the start with one line naming it. Open http://HOST:PORT/ for a page to try the models,
/docs for the API. On SIGTERM the server stops accepting, answers the requests in flight and
exits 0.

examples:
  visionfeatures serve digits.skops --port 8000
  visionfeatures serve photos=photos.skops search-photos/ --workers 2 --api-key-file key.txt
"""

import json
import os
import signal
import tempfile

from ..serve.settings import Settings, parse_bytes, parse_pixels
from ._common import add_verbosity, fail, parser_for, positive_int

_DEFAULTS = Settings()


def _argument_type(parse):
    import argparse

    def convert(text):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _milliseconds(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")  # refused below, with the same message
    if not 0 <= value <= 10_000:
        raise ValueError(f"expected milliseconds from 0 to 10000; got {text!r}")
    return value


def build_parser(prog=None):
    parser = parser_for(__doc__, prog)
    parser.add_argument("models", metavar="MODEL", nargs="+", help="FILE, NAME=FILE or FOLDER")
    parser.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="processes on the one port (default: 1)"
    )
    parser.add_argument(
        "--max-batch",
        type=positive_int,
        default=_DEFAULTS.max_batch,
        help=f"most images per pipeline run (default: {_DEFAULTS.max_batch})",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=_argument_type(_milliseconds),
        default=_DEFAULTS.max_wait_ms,
        help=f"how long an image waits for others to batch with (default: "
        f"{_DEFAULTS.max_wait_ms:g})",
    )
    parser.add_argument(
        "--max-body",
        type=_argument_type(parse_bytes),
        default=_DEFAULTS.max_body,
        metavar="SIZE",
        help="largest request body, e.g. 32MiB (default: 32MiB; 413 beyond)",
    )
    parser.add_argument(
        "--max-images",
        type=positive_int,
        default=_DEFAULTS.max_images,
        help=f"most images per request (default: {_DEFAULTS.max_images}; 413 beyond)",
    )
    parser.add_argument(
        "--max-pixels",
        type=_argument_type(parse_pixels),
        default=_DEFAULTS.max_pixels,
        metavar="ROWSxCOLS",
        help="largest image, read from its header (default: 4096x4096)",
    )
    parser.add_argument(
        "--api-key-file",
        metavar="FILE",
        help="require the key in FILE (Authorization: Bearer KEY); health checks stay open",
    )
    parser.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="also trust this type named in a refusal (repeatable; only for files you trust)",
    )
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    add_verbosity(parser)
    return parser


def _read_key(path):
    try:
        with open(path) as f:
            key = f.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise ValueError(f"Cannot read API key file {path!r}: {reason or exc}.") from None
    if not key:
        raise ValueError(f"API key file {path!r} is empty.")
    return key


def log_level(args):
    """uvicorn's level for ``-v`` / ``-q``: debug, info (the default) or warning."""
    return "warning" if args.quiet else "debug" if args.verbose else "info"


def log_config(level):
    """uvicorn's logging configuration, with the library's loggers beside its own."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["pipelines"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    prog = parser.prog
    try:
        key = None if args.api_key_file is None else _read_key(args.api_key_file)
    except ValueError as exc:
        return fail(prog, exc, 2)
    settings = Settings(
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_body=args.max_body,
        max_images=args.max_images,
        max_pixels=args.max_pixels,
        api_key=key,
    )

    import uvicorn

    from ..serve.models import ModelFileError, load_models

    try:  # every file is checked here, so that a bad one stops the start with one line
        models = load_models(args.models, trusted=args.trust, max_pixels=args.max_pixels)
    except ModelFileError as exc:
        return fail(prog, exc)
    options = dict(
        host=args.host,
        port=args.port,
        log_config=log_config(log_level(args)),
        log_level=log_level(args),
        access_log=not (args.no_access_log or args.quiet),
        timeout_graceful_shutdown=None,  # SIGTERM: answer every request in flight
    )
    if args.workers == 1:
        from ..serve.app import create_app

        server = uvicorn.Server(uvicorn.Config(create_app(models, settings), **options))
        # uvicorn re-raises the SIGTERM (or Ctrl-C) it handled once it has shut down
        # gracefully, which would end the process with that signal's status or a
        # KeyboardInterrupt; the shutdown was clean: exit 0.
        stops = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, lambda sig, frame: None) for sig in stops}
        try:
            server.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0 if server.started else 1

    # Several processes: uvicorn imports the app factory in each; the models and settings go
    # through the environment (the key file's path, never the key).
    config = {
        "models": [[name, model.path] for name, model in models.items()],
        "trusted": args.trust,
        "settings": {
            "max_batch": settings.max_batch,
            "max_wait_ms": settings.max_wait_ms,
            "max_body": settings.max_body,
            "max_images": settings.max_images,
            "max_pixels": settings.max_pixels,
        },
        "api_key_file": None if args.api_key_file is None else os.path.abspath(args.api_key_file),
    }
    del models
    os.environ["VISIONFEATURES_SERVE"] = json.dumps(config)
    with tempfile.TemporaryDirectory(prefix="visionfeatures-metrics-") as metrics_dir:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        uvicorn.run(
            "pipelines.serve.app:create_app_from_environment",
            factory=True,
            workers=args.workers,
            **options,
        )
    return 0
