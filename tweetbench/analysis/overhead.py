"""The framework overhead's uncertainty: an interval for the Lightning/bare ratio over paired rounds, and its verdict.

The unit is the round (one Lightning block and one bare block, interleaved ABBA): steps inside a block
share the machine's state, so treating steps as independent would make the interval far too narrow.
Each round gives one ratio, median bare step over median Lightning step; the ratio is their geometric
mean and its interval the one-sample t on their logs (``ratios.paired_block_ratio``, the method ``ab``'s
pairs and the open division's ablation use too). A percentile bootstrap over 12 rounds covered 92%
(87% over smoke's 4); the t interval keeps its nominal coverage (``tests/analysis/test_power.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from tweetbench.analysis.ratios import PairedRatio, paired_block_ratio
from tweetbench.analysis.summary import Summary

OverheadVerdict = Literal["meets", "misses", "unresolved at this noise"]
MIN_ROUNDS = 3


def pooled_median(blocks: Sequence[Sequence[float]]) -> float:
    """The median of every sample of every block (their step summary's p50, in the samples' unit)."""
    return Summary.from_samples([s for block in blocks for s in block]).p50


def pooled_ratio(lightning: Sequence[Sequence[float]], bare: Sequence[Sequence[float]]) -> float:
    """Median bare step over median Lightning step, over every block of each side (1.0: no overhead)."""
    return pooled_median(bare) / pooled_median(lightning)


def paired_ratio(lightning: Sequence[Sequence[float]], bare: Sequence[Sequence[float]],
                 confidence: float = 0.95) -> PairedRatio:
    """bare/Lightning over paired rounds: round k's median bare step over its median Lightning step."""
    return paired_block_ratio(lightning, bare, confidence)


def ratio_interval(lightning: Sequence[Sequence[float]], bare: Sequence[Sequence[float]], *,
                   confidence: float = 0.95) -> tuple[float, float] | None:
    """The ``confidence`` t interval of the paired ratio over rounds; None with fewer than ``MIN_ROUNDS``."""
    if min(len(lightning), len(bare)) < MIN_ROUNDS:
        return None
    paired = paired_ratio(lightning, bare, confidence)
    return None if paired.low is None or paired.high is None else (paired.low, paired.high)


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


def overhead_summary(lightning: Sequence[Sequence[float]], bare: Sequence[Sequence[float]],
                     target: float) -> dict[str, Any]:
    """The ratio (geometric mean of the per-round ratios), its 95% interval over rounds, and the verdict."""
    paired = paired_ratio(lightning, bare)
    interval = ratio_interval(lightning, bare)
    return {"ratio": paired.ratio, "ci95": None if interval is None else list(interval),
            "ci_method": f"t interval on the log per-round ratios over {paired.n} interleaved rounds "
                         "(ratios.paired_block_ratio)", "round_sd_log": paired.sd_log,
            "verdict": verdict(interval, paired.ratio, target)}
