"""Confidence intervals of a median: bootstrap, order statistics over trials, batch means within a trial."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tweetbench.analysis.samples import as_samples, check_confidence, scipy_stats

# Bootstrap resamples are drawn in chunks of about this many values, so memory stays bounded
# (~32 MiB of float64) however many samples a run keeps.
_BOOTSTRAP_CHUNK_VALUES = 1 << 22
BATCHES = 10
"""Non-overlapping batches of consecutive steps behind a trial's median-step interval (batch means)."""


def bootstrap_distribution(
    arr: np.ndarray,
    statistic: Callable[..., Any],
    n_resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``statistic`` of ``n_resamples`` resamples (with replacement) of ``arr``."""
    rows_per_chunk = max(1, _BOOTSTRAP_CHUNK_VALUES // arr.size)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_resamples)
        resamples = arr[rng.integers(0, arr.size, size=(stop - start, arr.size))]
        out[start:stop] = _apply_rowwise(statistic, resamples)
    return out


def _apply_rowwise(statistic: Callable[..., Any], rows: np.ndarray) -> np.ndarray:
    try:
        result = np.asarray(statistic(rows, axis=1), dtype=float)
        if result.shape == (rows.shape[0],):
            return result
    except TypeError:
        pass  # the statistic takes no ``axis``: fall back to one call per row
    return np.array([float(statistic(row)) for row in rows])


def percentile_interval(distribution: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(distribution, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[..., Any] = np.median,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of ``statistic(values)``.

    Draws ``n_resamples`` resamples with replacement from a generator seeded with ``seed``, so
    the result is deterministic. ``statistic`` should accept ``axis=`` (as numpy reductions do)
    to be vectorised; other callables are applied per resample. One value gives ``(s, s)``.
    """
    arr = as_samples(values)
    check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if arr.size == 1:
        point = float(statistic(arr))
        return point, point
    rng = np.random.default_rng(seed)
    return percentile_interval(bootstrap_distribution(arr, statistic, n_resamples, rng), confidence)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval and the method that produced it."""

    estimate: float
    low: float
    high: float
    method: str

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"Interval needs low <= high, got [{self.low}, {self.high}]")

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def _order_statistic_rank(n: int, confidence: float) -> int | None:
    """Largest 1-based rank k with P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2, or None."""
    ranks = np.arange(1, n // 2 + 1)
    ok = ranks[scipy_stats().binom.cdf(ranks - 1, n, 0.5) <= (1.0 - confidence) / 2.0]
    return int(ok[-1]) if ok.size else None


def median_with_ci(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> Interval:
    """Median of ``values`` (e.g. per-trial medians) with a ``confidence`` interval.

    Methods, chosen by the number of values n:

    * **order-statistic (binomial)**, used whenever it can reach ``confidence`` (n >= 6 at 95%):
      the interval is ``[x(k), x(n-k+1)]`` of the sorted values, with k the largest rank such
      that ``P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2``. It is distribution-free and
      its coverage is exact and at least ``confidence`` for any continuous distribution; the
      achieved coverage is stated in ``method``.
    * **bootstrap-percentile** (``bootstrap_ci`` with ``seed``), for smaller n. No
      distribution-free interval reaches 95% with n <= 5, and this one does not either: for
      n = 2..5 it equals ``[min, max]``, whose coverage of the true median is
      ``1 - 2**(1-n)``: 50%, 75%, 87.5% and 93.75%. Treat it as a range, not a 95% interval.
    """
    arr = as_samples(values)
    check_confidence(confidence)
    estimate = float(np.median(arr))
    k = _order_statistic_rank(arr.size, confidence)
    if k is None:
        low, high = bootstrap_ci(arr, np.median, confidence, seed=seed)
        return Interval(estimate, low, high, f"bootstrap-percentile(n={arr.size})")
    ordered = np.sort(arr)
    coverage = 1.0 - 2.0 * float(scipy_stats().binom.cdf(k - 1, arr.size, 0.5))
    method = f"order-statistic(binomial), x({k})..x({arr.size - k + 1}) of n={arr.size}, coverage {coverage:.1%}"
    return Interval(estimate, float(ordered[k - 1]), float(ordered[arr.size - k]), method)


def batch_median_interval(values: Sequence[float], confidence: float = 0.95, batches: int = BATCHES) -> Interval:
    """The median of correlated samples (the steps of one trial) with a batch-means interval.

    The samples are cut into ``batches`` non-overlapping runs of consecutive samples; each run's median is
    one value, and the interval is ``median ± t(k-1) · sd / sqrt(k)`` over those k medians. Consecutive steps
    share the machine's state, so an interval that treats them as independent (the order statistics of all
    steps) is far too narrow: with a step autocorrelation of 0.9 it covered 45%. Fewer than
    ``2 * batches`` samples give a point. It is still an interval *within one trial*: it says nothing about
    another process (see ``replication``)."""
    arr = as_samples(values)
    check_confidence(confidence)
    estimate = float(np.median(arr))
    if arr.size < 2 * batches:
        return Interval(estimate, estimate, estimate, f"within-trial: {arr.size} steps, too few for batch means")
    medians = np.array([np.median(chunk) for chunk in np.array_split(arr, batches)])
    half = float(scipy_stats().t.ppf((1 + confidence) / 2, batches - 1) * np.std(medians, ddof=1)
                 / math.sqrt(batches))
    method = (f"within-trial, batch means: median ± t·sd/√{batches} over the medians of {batches} non-overlapping "
              f"batches of ~{arr.size // batches} consecutive steps")
    return Interval(estimate, estimate - half, estimate + half, method)
