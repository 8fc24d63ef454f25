"""Test-suite settings shared by every test module."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis draws its examples from a fixed seed unless asked otherwise, so that the suite
# gives the same verdict on every run and every machine (CI, a clean clone); exploring new
# examples is a deliberate act: HYPOTHESIS_PROFILE=explore python -m pytest.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -- every batch extraction's manifest adds up ---------------------------------------------------
def check_manifest(manifest, out):
    """The counts of an extraction's manifest agree with each other and with its files.

    Every file listed (in class folders, or outside them as a failure) is either a row of
    ``features.npy`` or a failure, never both and never neither.
    """
    import numpy as np

    from pipelines.batch import read_paths

    failed = [failure["path"] for failure in manifest["failures"]]
    paths = read_paths(out)
    assert manifest["n_failures"] == len(failed) == len(set(failed)), manifest["failures"]
    assert manifest["n_images"] == len(paths) == len(set(paths))
    assert manifest["n_files"] == manifest["n_images"] + manifest["n_failures"]
    assert not set(paths) & set(failed)
    features = np.load(Path(out) / "features.npy", mmap_mode="r")
    assert features.shape == (manifest["n_images"], manifest["n_features"])
    if (Path(out) / "labels.npy").exists():
        assert len(np.load(Path(out) / "labels.npy")) == manifest["n_images"]


@pytest.fixture(autouse=True)
def _every_manifest_adds_up(monkeypatch):
    """Check (:func:`check_manifest`) every manifest an extraction in this process writes."""
    from pipelines import _assembly

    build = _assembly._manifest

    def checked(plan, extractor, rows, assembler):
        manifest = build(plan, extractor, rows, assembler)
        assert manifest["n_files"] == len(plan["files"]) + len(plan["stray"])
        check_manifest(manifest, assembler.out)
        return manifest

    monkeypatch.setattr(_assembly, "_manifest", checked)


@pytest.fixture(autouse=True)
def _library_logging_restored():
    """The commands configure the library's loggers (``-v`` / ``-q``): put them back after
    each test, so that no test sees the levels and handler another one left."""
    import logging

    from pipelines.cli import _common

    saved = {name: logging.getLogger(name).level for name in _common.LIBRARY_LOGGERS}
    yield
    for name, level in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if _common._handler is not None:
            logger.removeHandler(_common._handler)
    _common._handler = None
