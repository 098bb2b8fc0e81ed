"""Intervals with pyhf's signatures (``pyhf.infer.intervals``)."""
from . import upper_limits

__all__ = ["upper_limits"]
