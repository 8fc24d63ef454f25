"""A NumPy neural-network classifier and its optimisers, activations, losses and schedules."""

from .activations import ACTIVATIONS
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
    "NeuralNetClassifier",
]
