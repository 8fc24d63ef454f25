"""The command ``visionfeatures predict`` as a script: see pipelines/cli/predict.py."""

from pipelines.cli import predict as command


def main(argv=None):
    return command.main(argv, prog="predict.py")


if __name__ == "__main__":
    raise SystemExit(main())
