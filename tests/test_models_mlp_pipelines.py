"""The MLP pipelines on digits: the library's network against scikit-learn's, same split."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from models import EarlyStoppingWarning
from pipelines import make
from pipelines.datasets import load_dataset

pytestmark = pytest.mark.blas  # float32 BLAS results: rerun under another kernel in CI


def test_pixels_mlp_scores_at_least_sklearns_mlp_on_digits():
    """The comparison's split (80 / 20, stratified, random_state=0), both fitted here."""
    data = load_dataset("digits")
    train, test = train_test_split(
        np.arange(len(data)), test_size=0.2, stratify=data.labels, random_state=0
    )
    scores = {}
    for name in ("pixels-mlp", "pixels-mlp-sklearn"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = make(name, grey=True).fit(data.images[train], data.labels[train])
        scores[name] = model.score(data.images[test], data.labels[test])
        if name == "pixels-mlp":  # early stopping ends it, and says so
            clf = model.named_steps["clf"]
            assert clf.n_epochs_ < clf.max_epochs
            assert [w.category for w in caught] == [EarlyStoppingWarning]
    assert scores["pixels-mlp"] >= scores["pixels-mlp-sklearn"] >= 0.95
