"""Raw samples in: the input check that every statistic shares, and scipy on first use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def scipy_stats() -> Any:
    """``scipy.stats``, imported on first use: a run that only summarises samples does not need scipy (the GPU
    check machines come without it); intervals, comparisons and power do."""
    from scipy import stats

    return stats


def as_samples(values: Iterable[float], name: str = "values") -> np.ndarray:
    """Return ``values`` as a 1-D float array; reject empty and non-finite input."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_confidence(confidence: float) -> None:
    """Raise ``ValueError`` unless ``confidence`` lies in (0, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
