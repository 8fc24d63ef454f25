"""What the commands share: argument types, the pipeline list in ``--help``, one-line errors,
``-v`` / ``-q`` and the logging they set, output folders.

Nothing here imports NumPy, scikit-learn, OpenCV, numba or tqdm: a command imports them only
once its arguments are parsed, so that ``--help`` answers at once.
"""

import argparse
import logging
import sys
from pathlib import Path

from ..registry import available, describe

# The packages whose loggers the commands show: the library logs through
# ``logging.getLogger(__name__)`` and never configures logging itself.
LIBRARY_LOGGERS = ("features", "models", "pipelines")
_handler = None  # the handler the last command installed (replaced, never stacked)


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
    print(f"{prog}: {message}", file=sys.stderr)
    return code
