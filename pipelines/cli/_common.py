"""What the commands share: argument types, the pipeline list in ``--help``, one-line errors,
``-v`` / ``-q`` and the logging they set, output folders.

Nothing here imports NumPy, scikit-learn, OpenCV, numba or tqdm: a command imports them only
once its arguments are parsed, so that ``--help`` answers at once.
"""

import argparse
import functools
import logging
import os
import re
import sys
from pathlib import Path

from .._runtime import DEFAULT_MAX_PIXELS
from ..registry import available, describe

# The packages whose loggers the commands show: the library logs through
# ``logging.getLogger(__name__)`` and never configures logging itself.
LIBRARY_LOGGERS = ("features", "models", "pipelines")
_handler = None  # the handler the last command installed (replaced, never stacked)
INTERRUPTED = 130  # the shell's status for a command ended by Ctrl-C (128 + SIGINT)


def size_pair(text):
    """argparse type: "ROWS,COLS" as a pair of positive ints."""
    try:
        rows, cols = (int(v) for v in text.split(","))
    except ValueError:
        message = f"expected ROWS,COLS such as 32,32; got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"ROWS and COLS must be positive; got {text!r}")
    return rows, cols


def positive_int(text):
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def description(doc):
    """The first paragraph of a command module's docstring."""
    return doc.split("\n\n")[0]


def parser_for(doc, prog, *, pipelines=False):
    """An ArgumentParser named ``prog`` whose description is ``doc``'s first paragraph.

    With ``pipelines``, the description ends with the list of named pipelines.
    """
    text = description(doc)
    if pipelines:
        names = "\n".join(f"  {name:18s} {describe(name)}" for name in available())
        text += "\n\npipelines:\n" + names
    epilog = doc.split("\n\n", 1)[1] if "\n\n" in doc else None
    return argparse.ArgumentParser(
        prog=prog,
        description=text,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_verbosity(parser):
    """Add ``-v`` / ``--verbose`` (repeatable) and ``-q`` / ``--quiet`` to ``parser``.

    Examples
    --------
    >>> import argparse
    >>> from pipelines.cli._common import add_verbosity
    >>> parser = argparse.ArgumentParser()
    >>> add_verbosity(parser)
    >>> parser.parse_args(["-vv"]).verbose, parser.parse_args(["-q"]).quiet
    (2, True)
    """
    group = parser.add_argument_group("output")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more messages on stderr: -v adds the debug messages of the library",
    )
    exclusive.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars and no messages but warnings and errors (results still go "
        "to stdout or to files)",
    )


def setup_logging(args):
    """Show the library's log messages on stderr at the level ``-v`` / ``-q`` ask for.

    The default shows progress bars and messages of level INFO (one line per finished step,
    above the bars); ``-v`` adds DEBUG messages and the logger names; ``-q`` hides the bars
    and keeps only warnings and errors. Messages go through ``tqdm.write`` so that they do
    not tear a progress bar. Only the library's own loggers (:data:`LIBRARY_LOGGERS`) are
    configured; calling this again replaces the handler it added before.

    Parameters
    ----------
    args : argparse.Namespace
        With ``verbose`` (int) and ``quiet`` (bool), as :func:`add_verbosity` makes them.

    Returns
    -------
    progress : bool
        Whether the command should show progress bars.
    """
    global _handler
    verbose, quiet = getattr(args, "verbose", 0), getattr(args, "quiet", False)
    if quiet:
        level = logging.WARNING
    else:
        level = logging.DEBUG if verbose else logging.INFO
    handler = _TqdmHandler()
    handler.setFormatter(_Formatter(with_names=verbose > 0))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _handler is not None:
            logger.removeHandler(_handler)
        logger.addHandler(handler)
        logger.setLevel(level)
    _handler = handler
    return not quiet


class _TqdmHandler(logging.Handler):
    """Write each record on stderr through ``tqdm.write``, above any progress bar."""

    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging's contract: a failing handler reports, never raises
            self.handleError(record)


class _Formatter(logging.Formatter):
    """``message`` for INFO, ``warning: message`` above it; with names, ``logger: ...``."""

    def __init__(self, with_names=False):
        super().__init__()
        self.with_names = with_names

    def format(self, record):
        text = record.getMessage()
        if record.levelno != logging.INFO:
            text = f"{record.levelname.lower()}: {text}"
        if self.with_names:
            text = f"{record.name}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def out_folder(path):
    """Create the folder ``path`` (parents included) if it does not exist; return it.

    Examples
    --------
    >>> import tempfile
    >>> from pipelines.cli._common import out_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out_folder(f"{tmp}/a/b").is_dir()
    True
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_pipeline(parser, name):
    """``parser.error`` (exit 2) unless ``name`` is a registered pipeline."""
    if name not in available():
        parser.error(f"unknown pipeline {name!r}; see --help for the list")


def fail(prog, message, code=1):
    """Print ``prog: message`` as one line on stderr and return ``code``."""
    text = re.sub(r"\s*\n\s*", " ", str(message).strip())  # a YAML error spans lines
    print(f"{prog}: {text}", file=sys.stderr)
    return code


def pixel_count(text):
    """argparse type: a number of pixels, as N or ROWSxCOLS (4096x4096)."""
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected N or ROWSxCOLS such as 4096x4096; got {text!r}")
    return parts[0] * (parts[1] if len(parts) == 2 else 1)


def add_max_pixels(parser):
    """Add ``--max-pixels`` (the library's per-image limit, shared with the service)."""
    side = int(DEFAULT_MAX_PIXELS**0.5)
    parser.add_argument(
        "--max-pixels",
        type=pixel_count,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="larger images are failures, refused from their header before decoding: N or "
        f"ROWSxCOLS (default: {side}x{side})",
    )


def interruptible(resumes=False):
    """Decorate a command's ``main``: Ctrl-C and a failed allocation end with one line.

    Ctrl-C returns 130 and says, for commands that keep their finished work
    (``resumes=True``), that running the same command again resumes. A ``MemoryError`` is
    reported as what it is, with exit code 1.
    """

    def decorate(main):
        @functools.wraps(main)
        def wrapper(argv=None, prog=None):
            name = prog or os.path.basename(sys.argv[0])  # as argparse names it
            try:
                return main(argv, prog)
            except KeyboardInterrupt:
                again = "; run the same command again to resume where it stopped" if resumes else ""
                return fail(name, f"interrupted{again}", INTERRUPTED)
            except MemoryError as exc:
                detail = f" ({exc})" if str(exc) else ""
                return fail(name, f"out of memory: an allocation failed{detail}")

        return wrapper

    return decorate
