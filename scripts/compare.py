"""The command ``visionfeatures compare`` as a script: see pipelines/cli/compare.py."""

from pipelines.cli import compare as command


def main(argv=None):
    return command.main(argv, prog="compare.py")


if __name__ == "__main__":
    raise SystemExit(main())
