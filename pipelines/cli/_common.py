"""What the commands share: argument types, the pipeline list in ``--help``, one-line errors.

Nothing here imports NumPy, scikit-learn, OpenCV or numba: a command imports them only once its
arguments are parsed, so that ``--help`` answers at once.
"""

import argparse
import sys

from ..registry import available, describe


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


def check_pipeline(parser, name):
    """``parser.error`` (exit 2) unless ``name`` is a registered pipeline."""
    if name not in available():
        parser.error(f"unknown pipeline {name!r}; see --help for the list")


def fail(prog, message, code=1):
    """Print ``prog: message`` as one line on stderr and return ``code``."""
    print(f"{prog}: {message}", file=sys.stderr)
    return code
