"""What a built wheel holds and declares: the command, the license, package data, bounds.

The wheel is built from a copy of the sources with a planted data file, as ``pip install .``
builds it (in an isolated build environment).
"""

import ast
import configparser
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "pipelines")
# the one module per package allowed to import scikit-learn's private helpers
WRAPPERS = {"features/_validation.py", "models/_param.py"}


def _setup():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _requirements():
    lines = _setup()["options"]["install_requires"].strip().splitlines()
    return [Requirement(line.strip()) for line in lines if line.strip()]


def test_license_file_matches_the_metadata():
    text = (ROOT / "LICENSE").read_text()
    assert _setup()["metadata"]["license"] == "BSD-3-Clause"
    assert text.startswith("BSD 3-Clause License")
    assert "visionfeatures developers" in text
    assert "Neither the name of the copyright holder" in text  # the third clause


def test_every_dependency_is_bounded_and_the_installed_versions_fit():
    for requirement in _requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert {">=", "<"} <= operators, f"{requirement} needs a lower and an upper bound"
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{requirement.name} {installed} is outside {requirement.specifier}: run the tests "
            "on it and move the bound in setup.cfg"
        )
    sklearn = next(r for r in _requirements() if r.name == "scikit-learn")
    assert not sklearn.specifier.contains("1.10.0")  # private helpers: the tested series only


def test_only_the_wrapper_modules_import_private_scikit_learn_helpers():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), name)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
                    private = any(part.startswith("_") for part in node.module.split("."))
                    private |= any(alias.name.startswith("_") for alias in node.names)
                    if node.module == "sklearn.utils.validation":
                        private |= any(a.name == "validate_data" for a in node.names)
                    if private and name not in WRAPPERS:
                        found.append(f"{name}:{node.lineno} from {node.module} import ...")
    assert found == []


def test_the_docstring_examples_of_every_package_are_collected():
    """pytest runs the examples (--doctest-modules) of every package it installs, and no
    example is left where pytest does not look (scripts/ holds none)."""
    pytest_options = _setup()["tool:pytest"]
    assert "--doctest-modules" in pytest_options["addopts"].split()
    searched = set(pytest_options["testpaths"].split())
    assert set(PACKAGES) <= searched
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    with_examples = {
        path.relative_to(ROOT).parts[0]
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        if ">>> " in path.read_text()
    }
    assert with_examples <= searched


def test_the_console_command_is_declared():
    scripts = _setup()["options.entry_points"]["console_scripts"].strip()
    assert scripts == "visionfeatures = pipelines.cli:main"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the sources, with a planted static file."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".hypothesis",
            ".ruff_cache",
            "results*",
        ),
    )
    static = source / "pipelines" / "static"
    static.mkdir(exist_ok=True)
    (static / "planted.html").write_text("<p>a page the service would serve</p>\n")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp), "."],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = tmp.glob("visionfeatures-*.whl")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        info = {Path(n).name: archive.read(n).decode() for n in names if ".dist-info/" in n}
    return names, info


def test_the_wheel_holds_every_module_and_package_data_but_no_scripts(wheel):
    names, _ = wheel
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }
    assert modules <= set(names)
    assert "pipelines/static/planted.html" in names
    assert not [n for n in names if n.startswith(("scripts/", "tests/"))]


def test_the_wheel_declares_the_command_license_and_bounds(wheel):
    _, info = wheel
    assert "visionfeatures = pipelines.cli:main" in info["entry_points.txt"]
    assert info["LICENSE"].startswith("BSD 3-Clause License")
    requires = [
        line.split(": ", 1)[1]
        for line in info["METADATA"].splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]
    assert sorted(Requirement(r).name for r in requires) == sorted(r.name for r in _requirements())
    assert any(r.startswith("scikit-learn") and "<1.10" in r for r in requires)
