"""The command ``visionfeatures search`` as a script: see pipelines/cli/search.py."""

from pipelines.cli import search as command


def main(argv=None):
    return command.main(argv, prog="grid_search.py")


if __name__ == "__main__":
    raise SystemExit(main())
