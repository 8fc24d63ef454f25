"""The command ``visionfeatures show-hog`` as a script: see pipelines/cli/show_hog.py."""

from pipelines.cli import show_hog as command


def main(argv=None):
    return command.main(argv, prog="show_hog.py")


if __name__ == "__main__":
    raise SystemExit(main())
