"""The command line: ``visionfeatures COMMAND ...``, and the ``main`` of every command.

Each command lives in a module of this package with ``build_parser(prog)`` and
``main(argv=None, prog=None) -> int``; ``scripts/<name>.py`` are thin wrappers over the same
mains. Modules here import the heavy libraries only inside ``main``, after parsing.
"""

import argparse
import sys

from . import compare, extract, features, lecture, predict, search, serve, show_hog, train

# command name -> module; the order of the help listing
COMMANDS = {
    "compare": compare,
    "extract": extract,
    "features": features,
    "train": train,
    "predict": predict,
    "search": search,
    "serve": serve,
    "show-hog": show_hog,
    "lecture": lecture,
}


def build_parser():
    """The top-level parser: the list of commands with one line each."""
    listing = "\n".join(
        f"  {name:10s} {module.__doc__.splitlines()[0]}" for name, module in COMMANDS.items()
    )
    parser = argparse.ArgumentParser(
        prog="visionfeatures",
        description="Classical computer-vision features and pipelines, from the command line.",
        epilog=f"commands:\n{listing}\n\n'visionfeatures COMMAND --help' describes a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    """Run ``visionfeatures COMMAND ARGS...``; return the command's exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv[:1])
    return COMMANDS[args.command].main(argv[1:], prog=f"visionfeatures {args.command}")
