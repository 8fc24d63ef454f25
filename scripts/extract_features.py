"""The command ``visionfeatures extract`` as a script: see pipelines/cli/extract.py."""

from pipelines.cli import extract as command


def main(argv=None):
    return command.main(argv, prog="extract_features.py")


if __name__ == "__main__":
    raise SystemExit(main())
