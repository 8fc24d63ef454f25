"""What users read and what the named pipelines are, compared with a reviewed copy.

Every command's ``--help`` (its options, their defaults, the lists of features and
pipelines) and every parameter of every named pipeline are kept in
``tests/__snapshots__/test_reviewed_text.ambr`` (syrupy). A changed word of help, a default
moved by one or a hyperparameter of a named pipeline changed by mistake fails here; after a
deliberate change, run

    python -m pytest tests/test_reviewed_text.py --snapshot-update

and review the diff of the ``.ambr`` file with the change.
"""

import inspect

import pytest

from pipelines import available, cli, make
from pipelines.registry import EXTRACTORS

COMMANDS = [None, *cli.COMMANDS]


def _help(command, capsys, monkeypatch):
    """The text ``visionfeatures [COMMAND] --help`` prints, at 100 columns."""
    monkeypatch.setenv("COLUMNS", "100")
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "top")
def test_the_help_of_each_command_is_the_reviewed_one(command, capsys, monkeypatch, snapshot):
    assert _help(command, capsys, monkeypatch) == snapshot


def test_extract_lists_each_feature_with_its_description(capsys, monkeypatch):
    # the reviewed help above holds the words; here, that each feature has its own line
    text = _help("extract", capsys, monkeypatch)
    for name, entry in EXTRACTORS.items():
        assert f"\n  {name:8s} {entry.description}\n" in text
        assert len(entry.description.split()) >= 4, name


def _value(value):
    """A parameter's value as text that does not change between runs (no addresses)."""
    if inspect.isfunction(value) or inspect.isbuiltin(value) or inspect.isclass(value):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def _parameters(estimator, prefix=""):
    """{path: value as text} of every parameter of ``estimator`` and the estimators inside.

    scikit-learn's own classes give only the parameters set away from their defaults (their
    other defaults are scikit-learn's to change); the library's classes give all of theirs.
    """
    cls = type(estimator)
    found = {prefix + "class": cls.__name__}
    ours = not cls.__module__.startswith("sklearn.")
    defaults = inspect.signature(cls.__init__).parameters
    for key, value in estimator.get_params(deep=False).items():
        if key in ("steps", "transformer_list"):
            for name, step in value:
                found.update(_parameters(step, f"{prefix}{name}__"))
        elif hasattr(value, "get_params") and not inspect.isclass(value):
            found.update(_parameters(value, f"{prefix}{key}__"))
        elif ours or key not in defaults or _value(value) != _value(defaults[key].default):
            found[prefix + key] = _value(value)
    return found


@pytest.mark.parametrize("name", available())
def test_each_named_pipeline_is_the_reviewed_one(name, snapshot):
    colour = _parameters(make(name))
    assert colour == snapshot
    grey = _parameters(make(name, grey=True))
    changed = {key: value for key, value in grey.items() if colour.get(key) != value}
    assert changed == snapshot(name="grey")
