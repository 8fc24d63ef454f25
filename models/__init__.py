"""A NumPy neural-network classifier and its optimisers, activations, losses and schedules;
linear classifiers with scikit-learn's ``C`` solved by it."""

from .activations import ACTIVATIONS
from .linear import LinearClassifier
from .losses import LOSSES
from .network import EarlyStoppingWarning, NeuralNetClassifier
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "EarlyStoppingWarning",
    "LinearClassifier",
    "NeuralNetClassifier",
]
