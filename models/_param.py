"""The one place where the models package imports scikit-learn's private helpers.

``features/_validation.py`` plays this role for the extractors; the models package did not
depend on it when it was written, so its private imports live here (one module, easy to
repoint when scikit-learn moves them).
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions

__all__ = ["HasMethods", "Interval", "Options", "StrOptions", "_fit_context"]
