"""What the command tests share."""

from pipelines import cli


def run_command(argv, capsys):
    """(exit status, last line on stderr) of ``visionfeatures ARGV``."""
    try:
        code = cli.main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""
