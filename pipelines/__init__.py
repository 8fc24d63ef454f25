"""Named pipelines, data sets, comparison, batch extraction and grid search."""

from .registry import available, describe, make

__all__ = ["available", "describe", "make"]
