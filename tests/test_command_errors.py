"""Every error a command reports before doing its work: the exit status and the one line.

Usage errors (argparse's, and files the command cannot use) end with status 2; errors met
while working (a folder of images that is not there, a model file that is not one) with 1.
Each line is compared whole, so that a message that loses its subject, or a status that
moves, fails here (see scripts/mutation.py).
"""

import cv2
import numpy as np
import pytest

from pipelines import cli

from ._cli import run_command


@pytest.fixture
def place(tmp_path):
    """tmp_path with a file, a folder holding one image, and a small image."""
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "folder").mkdir()
    image = np.random.default_rng(0).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "folder" / "x.png"), image)
    assert cv2.imwrite(str(tmp_path / "small.png"), image)
    (tmp_path / "latin1.json").write_bytes('{"hog": {"orientations": "neuf é"}}'.encode("latin-1"))
    return tmp_path


# (argv with {t} for the folder of the test, status, the line after "visionfeatures CMD: ")
CASES = [
    (
        "compare --pipelines nope,hog-svm,zz --out {t}/o",
        2,
        "error: unknown pipeline(s) nope, zz; see --help for the list",
    ),
    (
        "compare --test-size 1.5 --out {t}/o",
        2,
        "error: --test-size must be between 0 and 1; got 1.5",
    ),
    ("compare --test-size 0 --out {t}/o", 2, "error: --test-size must be between 0 and 1; got 0.0"),
    ("compare --out {t}/afile", 2, "Output '{t}/afile' exists and is not a folder."),
    ("compare --data {t}/missing --out {t}/o -q", 1, "Image folder '{t}/missing' does not exist."),
    (
        "compare --data {t}/afile --out {t}/o -q",
        1,
        "Image folder '{t}/afile' is not a folder.",
    ),
    (
        "train --pipeline nope --out {t}/m.skops",
        2,
        "error: unknown pipeline 'nope'; see --help for the list",
    ),
    (
        "train --pipeline hog-svm --out {t}/folder",
        2,
        "Output '{t}/folder' is an existing folder; expected a file name.",
    ),
    (
        "train --pipeline hog-svm --size 0 --out {t}/m.skops",
        2,
        "error: argument --size: expected ROWS,COLS such as 32,32; got '0'",
    ),
    (
        "train --pipeline hog-svm --data {t}/missing --out {t}/m.skops -q",
        1,
        "Image folder '{t}/missing' does not exist.",
    ),
    (
        "show-hog {t}/missing.png --out {t}/h.png",
        2,
        "cannot read an image from '{t}/missing.png': cannot read the file: No such file or "
        "directory",
    ),
    (
        "show-hog {t}/small.png --out {t}/folder",
        2,
        "Output '{t}/folder' is an existing folder; expected a file name.",
    ),
    (
        "show-hog {t}/small.png --pixels-per-cell 8 8 --out {t}/h.png",
        2,
        "Images of shape (6, 6) are too small for pixels_per_cell=(8, 8): need at least 8 rows "
        "and 8 cols.",
    ),
    (
        "serve {t}/m.skops --api-key-file {t}/missing.key",
        2,
        "Cannot read API key file '{t}/missing.key': No such file or directory.",
    ),
    (
        "serve {t}/m.skops --api-key-file {t}/folder",
        2,
        "Cannot read API key file '{t}/folder': Is a directory.",
    ),
    (
        "serve {t}/missing.skops",
        1,
        "Model file '{t}/missing.skops' does not exist or is not a file.",
    ),
    (
        "search --pipeline hog-svm --grid {{}} --out {t}/afile",
        2,
        "Output '{t}/afile' exists and is not a folder.",
    ),
    (
        "search --pipeline hog-svm --grid {{}} --out {t}/o --cache-dir {t}/afile",
        2,
        "Output '{t}/afile' exists and is not a folder.",
    ),
    (
        "search --pipeline hog-svm --grid {{}} --out {t}/o",
        2,
        'A grid is a non-empty mapping of parameter names to lists of values, such as {{"clf__C": '
        "[0.01, 0.1, 1]}}; got {{}}.",
    ),
    (
        'search --pipeline hog-svm --grid {{"clf__C":[1]}} --data {t}/missing --out {t}/o -q',
        1,
        "Image folder '{t}/missing' does not exist.",
    ),
    (
        "search --pipeline nope --grid {{}} --out {t}/o",
        2,
        "error: unknown pipeline 'nope'; see --help for the list",
    ),
    (
        "search --pipeline hog-svm --grid {{}} --out {t}/o --scheduler tcp://127.0.0.1:1",
        2,
        "error: --scheduler needs --backend dask",
    ),
    (
        "extract {t}/missing --out {t}/o",
        1,
        "Image folder '{t}/missing' does not exist or is not a folder.",
    ),
    ("extract {t}/folder --out {t}/afile", 2, "Output '{t}/afile' exists and is not a folder."),
    (
        "features {t}/e.skops {t}/folder --out {t}/afile",
        2,
        "Output '{t}/afile' exists and is not a folder.",
    ),
    (
        "features {t}/e.skops {t}/folder --out {t}/o",
        1,
        "Extractor file '{t}/e.skops' does not exist or is not a file.",
    ),
    (
        "extract {t}/folder --out {t}/o --scheduler tcp://127.0.0.1:1",
        2,
        "error: --scheduler needs --backend dask",
    ),
    (
        "predict {t}/missing.skops {t}/small.png",
        1,
        "Model file '{t}/missing.skops' does not exist or is not a file.",
    ),
    (
        "lecture schedules --out {t}/afile/x",
        1,
        "cannot create --out '{t}/afile/x': Not a directory",
    ),
    ("lecture schedules", 2, "error: the following arguments are required: --out"),
    (
        "extract {t}/folder --out {t}/o --chunk-size many",
        2,
        "error: argument --chunk-size: expected a positive integer; got 'many'",
    ),
    (
        "extract {t}/folder --out {t}/o --chunk-size 0",
        2,
        "error: argument --chunk-size: expected a positive integer; got '0'",
    ),
    (
        "train --pipeline hog-svm --size 300,300 --max-pixels 100 --out {t}/m.skops",
        2,
        "--size: size 300x300 is 90000 pixels, over the limit of 100 pixels per image "
        "(max_pixels, --max-pixels).",
    ),
    (
        "extract {t}/folder --out {t}/o --config {t}/missing.json",
        2,
        "Cannot read config file '{t}/missing.json': No such file or directory.",
    ),
    (
        "extract {t}/folder --out {t}/o --config {t}/latin1.json",
        2,
        "Cannot read config file '{t}/latin1.json': it is not UTF-8 text.",
    ),
    (
        "extract {t}/folder --out {t}/o --size 300,300 --max-pixels 100",
        2,
        "--size: size 300x300 is 90000 pixels, over the limit of 100 pixels per image "
        "(max_pixels, --max-pixels).",
    ),
]


@pytest.mark.parametrize(("argv", "status", "line"), CASES, ids=[c[0][:40] for c in CASES])
def test_a_command_error_is_one_line_with_its_status(argv, status, line, place, capsys):
    words = [word.format(t=place) for word in argv.split()]
    code, last = run_command(words, capsys)
    assert (code, last) == (status, f"visionfeatures {words[0]}: {line.format(t=place)}")


def test_show_hog_says_it_cannot_write_its_picture(place, capsys, monkeypatch):
    from matplotlib.figure import Figure

    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    argv = ["show-hog", str(place / "small.png"), "--pixels-per-cell", "2", "2", "--out"]
    code, last = run_command([*argv, str(place / "h.png")], capsys)
    assert code == 1
    assert last == (
        f"visionfeatures show-hog: cannot write '{place}/h.png': [Errno 28] No space left on device"
    )


def _help_defaults():
    """(command, option, the default its help names, the parser's default, type) for every
    option whose help says "(default: V...)" and whose default is a value."""
    import re

    found = []
    for command, module in cli.COMMANDS.items():
        for action in module.build_parser(command)._actions:
            named = re.search(r"\(default: ([^);,]+)", action.help or "")
            if named and action.default is not None and not isinstance(action.default, bool):
                option = action.option_strings[-1]
                found.append((command, option, named.group(1).strip(), action.default, action))
    return found


@pytest.mark.parametrize(("command", "option", "named", "default", "action"), _help_defaults())
def test_the_default_an_option_help_names_is_its_default(command, option, named, default, action):
    kind = action.type or str
    if isinstance(action.nargs, int):  # "8 8": one word per value
        assert tuple(map(kind, named.split())) == tuple(default)
    else:
        assert kind(named) == default


def test_every_command_names_defaults_in_its_help():
    commands = {command for command, *_ in _help_defaults()}
    assert commands >= {"compare", "extract", "features", "search", "serve", "lecture"}
    assert len(_help_defaults()) >= 20


def test_a_message_of_several_lines_is_said_on_one(capsys):
    from pipelines.cli._common import fail

    assert fail("prog", "first line\n   second line  \n\nthird", 3) == 3
    assert capsys.readouterr().err == "prog: first line second line third\n"


def test_the_command_line_is_read_from_sys_argv_after_the_program_name(monkeypatch, capsys):
    import sys

    monkeypatch.setattr(sys, "argv", ["visionfeatures", "lecture", "--help"])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("usage: visionfeatures lecture ")
