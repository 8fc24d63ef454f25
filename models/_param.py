"""The one place where the models package imports scikit-learn's private helpers.

``features/_validation.py`` plays this role for the extractors; the two packages never import
each other, so each has its own. ``validate_data`` is public since scikit-learn 1.6 (the lowest
version setup.cfg allows) but is imported here too, so that every helper whose home moved in
recent releases is repointed in one place.
"""

try:
    from sklearn.base import _fit_context
    from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
    from sklearn.utils.validation import validate_data
except ImportError as error:  # pragma: no cover - only with an untested scikit-learn
    import sklearn

    raise ImportError(
        f"visionfeatures needs scikit-learn's parameter-validation helpers, which scikit-learn "
        f"{sklearn.__version__} does not have where they were ({error}); install a "
        "scikit-learn that setup.cfg allows (pip install 'scikit-learn>=1.6,<1.10')."
    ) from error

__all__ = ["HasMethods", "Interval", "Options", "StrOptions", "_fit_context", "validate_data"]
