"""The command ``visionfeatures lecture`` as a script: see pipelines/cli/lecture.py.

python scripts/lecture.py all --out docs/lecture
"""

from pipelines.cli import lecture as command


def main(argv=None):
    return command.main(argv, prog="lecture.py")


if __name__ == "__main__":
    raise SystemExit(main())
