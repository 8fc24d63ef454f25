"""Argument types and help text shared by the command-line programs in scripts/."""

import argparse

from .registry import available, describe


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


def pipeline_parser(doc):
    """An ArgumentParser whose description is ``doc``'s first paragraph and the pipeline list."""
    names = "\n".join(f"  {name:18s} {describe(name)}" for name in available())
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0] + "\n\npipelines:\n" + names,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
