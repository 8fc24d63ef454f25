"""The command ``visionfeatures serve`` as a script: see pipelines/cli/serve.py."""

from pipelines.cli import serve as command


def main(argv=None):
    return command.main(argv, prog="serve.py")


if __name__ == "__main__":
    raise SystemExit(main())
