"""The framework overhead's uncertainty: a bootstrap interval for the Lightning/bare ratio, and its verdict.

The unit of resampling is the round (one Lightning block and one bare block, interleaved ABBA): steps
inside a block share the machine's state, so resampling steps would make the interval far too
narrow. Each bootstrap sample draws rounds with replacement and recomputes the pooled ratio (median
bare step over median Lightning step), through ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy import stats

OverheadVerdict = Literal["meets", "misses", "unresolved at this noise"]
MIN_ROUNDS = 3


def pooled_median(blocks: Sequence[Sequence[float]]) -> float:
    """The median of every sample of every block."""
    return statistics.median(s for block in blocks for s in block)


def pooled_ratio(lightning: Sequence[Sequence[float]], bare: Sequence[Sequence[float]]) -> float:
    """Median bare step over median Lightning step, over every block of each side (1.0: no overhead)."""
    return pooled_median(bare) / pooled_median(lightning)


def ratio_interval(lightning: Sequence[Sequence[float]], bare: Sequence[Sequence[float]], *,
                   confidence: float = 0.95, seed: int = 0, resamples: int = 2000) -> tuple[float, float] | None:
    """A ``confidence`` percentile-bootstrap interval of the pooled ratio, resampling whole rounds;
    None with fewer than ``MIN_ROUNDS`` rounds."""
    rounds = min(len(lightning), len(bare))
    if rounds < MIN_ROUNDS:
        return None

    def statistic(picked: np.ndarray) -> float:
        chosen = [int(i) for i in picked]
        return pooled_ratio([lightning[i] for i in chosen], [bare[i] for i in chosen])

    result = stats.bootstrap((np.arange(rounds),), statistic, vectorized=False, n_resamples=resamples,
                             confidence_level=confidence, method="percentile", random_state=seed)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def verdict(interval: tuple[float, float] | None, ratio: float, target: float) -> OverheadVerdict:
    """``meets`` when the whole interval reaches the target, ``misses`` when none of it does, else unresolved.

    Without an interval (too few rounds) the verdict cannot be trusted either way: unresolved.
    """
    if interval is None:
        return "unresolved at this noise"
    low, high = interval
    if low >= target:
        return "meets"
    if high < target:
        return "misses"
    return "unresolved at this noise"


def overhead_summary(lightning: Sequence[Sequence[float]], bare: Sequence[Sequence[float]], target: float,
                     seed: int = 0) -> dict[str, Any]:
    """The ratio, its 95% interval over rounds, and the verdict against ``target``."""
    ratio = pooled_ratio(lightning, bare)
    interval = ratio_interval(lightning, bare, seed=seed)
    return {"ratio": ratio, "ci95": None if interval is None else list(interval),
            "ci_method": f"percentile bootstrap over {min(len(lightning), len(bare))} interleaved rounds",
            "verdict": verdict(interval, ratio, target)}
