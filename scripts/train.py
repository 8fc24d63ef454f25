"""The command ``visionfeatures train`` as a script: see pipelines/cli/train.py."""

from pipelines.cli import train as command


def main(argv=None):
    return command.main(argv, prog="train.py")


if __name__ == "__main__":
    raise SystemExit(main())
