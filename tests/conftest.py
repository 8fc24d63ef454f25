"""Test-suite settings shared by every test module."""

import os

from hypothesis import settings

# Hypothesis draws its examples from a fixed seed unless asked otherwise, so that the suite
# gives the same verdict on every run and every machine (CI, a clean clone); exploring new
# examples is a deliberate act: HYPOTHESIS_PROFILE=explore python -m pytest.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
