"""The one builder of a step summary: count, mean, stdev, CV and percentiles of raw samples.

The harness keeps raw samples (step times, latencies, batch times); every median, percentile or mean of
one of those figures that a record holds is built here, by ``step_summary`` (seconds in, milliseconds out)
or ``Summary.from_samples`` (any unit), and read from the record afterwards, never recomputed downstream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tweetbench.analysis.samples import as_samples


def _stdev(arr: np.ndarray) -> float:
    return float(np.std(arr, ddof=1)) if arr.size >= 2 else 0.0


def sample_cv(arr: np.ndarray) -> float:
    """The coefficient of variation, ``stdev (ddof=1) / mean``; 0 when the mean is 0."""
    mean = float(np.mean(arr))
    return _stdev(arr) / mean if mean != 0.0 else 0.0


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one sample set (e.g. the measured step times of one trial).

    ``stdev`` is the sample standard deviation (ddof=1, 0 for a single value); ``cv`` is
    ``stdev / mean`` (0 when the mean is 0); percentiles use numpy's linear interpolation.
    """

    count: int
    mean: float
    stdev: float
    cv: float
    min: float
    max: float
    p50: float
    p90: float
    p99: float

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"Summary needs count >= 1, got {self.count}")
        numbers = [getattr(self, k) for k in ("mean", "stdev", "cv", "min", "max", "p50", "p90", "p99")]
        if not all(math.isfinite(x) for x in numbers):
            raise ValueError(f"Summary has a non-finite field: {self}")
        if self.stdev < 0:
            raise ValueError(f"Summary stdev must be >= 0, got {self.stdev}")
        if not self.min <= self.p50 <= self.p90 <= self.p99 <= self.max:
            raise ValueError(f"Summary needs min <= p50 <= p90 <= p99 <= max: {self}")

    @classmethod
    def from_samples(cls, values: Sequence[float]) -> Summary:
        """Summarise raw samples; raise ``ValueError`` if they are empty or not all finite."""
        arr = as_samples(values)
        p50, p90, p99 = (float(p) for p in np.percentile(arr, [50, 90, 99]))
        return cls(
            count=int(arr.size),
            mean=float(np.mean(arr)),
            stdev=_stdev(arr),
            cv=sample_cv(arr),
            min=float(np.min(arr)),
            max=float(np.max(arr)),
            p50=p50,
            p90=p90,
            p99=p99,
        )

    def to_dict(self) -> dict[str, float | int]:
        """The fields as plain Python numbers; ``Summary(**s.to_dict()) == s``."""
        return asdict(self)


def step_summary(seconds: Sequence[float]) -> Summary:
    """The summary, in milliseconds, of per-step times given in seconds (training steps, requests, batches)."""
    return Summary.from_samples([s * 1e3 for s in seconds])
