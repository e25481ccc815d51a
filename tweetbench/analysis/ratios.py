"""How a candidate compares with a reference: the ratio of their figures, its interval and a verdict.

* ``compare_samples`` / ``regression_exceeds``: two independent sample sets (``compare``'s per-step
  detail; its verdicts rest on the per-trial test in ``replication``).
* ``paired_log_ratio`` / ``paired_block_ratio``: the one paired interval (ab's pairs, the overhead's and
  the ablation's rounds): a t interval on the per-pair log ratios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from tweetbench.analysis.intervals import bootstrap_distribution, percentile_interval
from tweetbench.analysis.samples import as_samples, check_confidence, scipy_stats

Verdict = Literal["faster", "slower", "no significant difference"]
VERDICTS: tuple[Verdict, ...] = ("faster", "slower", "no significant difference")


@dataclass(frozen=True)
class Comparison:
    """How run B compares with run A; see ``compare_samples`` for the rule."""

    ratio: float
    low: float
    high: float
    p_value: float
    verdict: Verdict
    method: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if not 0.0 <= self.p_value <= 1.0:
            raise ValueError(f"p_value must be in [0, 1], got {self.p_value}")

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def _ratio_ci(a: np.ndarray, b: np.ndarray, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(b) / median(a), resampling a and b independently."""
    rng_a, rng_b = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    medians_a = bootstrap_distribution(a, np.median, 2000, rng_a)
    medians_b = bootstrap_distribution(b, np.median, 2000, rng_b)
    return percentile_interval(medians_b / medians_a, confidence)


def compare_samples(
    a: Sequence[float],
    b: Sequence[float],
    *,
    higher_is_better: bool,
    alpha: float = 0.05,
    min_effect: float = 0.01,
    seed: int = 0,
) -> Comparison:
    """Compare candidate ``b`` with the reference ``a`` (raw samples, all strictly positive).

    * ``ratio`` is ``median(b) / median(a)``.
    * ``[low, high]`` is its ``1 - alpha`` (95% by default) percentile-bootstrap interval:
      2000 resampled medians of a and of b, drawn independently, divided pairwise.
    * ``p_value`` is the two-sided Mann-Whitney U test of a against b.

    The difference is significant iff ``p_value < alpha`` AND the ratio interval excludes 1.0
    (on the same side as ``ratio``) AND ``|ratio - 1| >= min_effect``. A significant ratio
    above 1 is "slower" when lower is better (step times) and "faster" when higher is better
    (throughput), and the other way round below 1. Otherwise the verdict is
    "no significant difference".
    """
    a_arr, b_arr = as_samples(a, "a"), as_samples(b, "b")
    if np.any(a_arr <= 0) or np.any(b_arr <= 0):
        raise ValueError("compare_samples needs strictly positive samples (times or rates)")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    ratio = float(np.median(b_arr) / np.median(a_arr))
    low, high = _ratio_ci(a_arr, b_arr, 1.0 - alpha, seed)
    p_value = float(scipy_stats().mannwhitneyu(a_arr, b_arr, alternative="two-sided").pvalue)
    if math.isnan(p_value):  # degenerate input (all values tied): nothing to distinguish
        p_value = 1.0
    verdict = _verdict(ratio, low, high, p_value, alpha, min_effect, higher_is_better)
    method = (
        f"ratio of medians b/a with {1 - alpha:.0%} bootstrap-percentile CI (2000 resamples each, "
        f"independent); two-sided Mann-Whitney U; significant iff p < {alpha:g}, CI excludes 1 "
        f"and |ratio-1| >= {min_effect:.1%}"
    )
    return Comparison(ratio, low, high, p_value, verdict, method)


def _verdict(
    ratio: float,
    low: float,
    high: float,
    p_value: float,
    alpha: float,
    min_effect: float,
    higher_is_better: bool,
) -> Verdict:
    excludes_one = (low > 1.0 and ratio > 1.0) or (high < 1.0 and ratio < 1.0)
    if not (p_value < alpha and excludes_one and abs(ratio - 1.0) >= min_effect):
        return "no significant difference"
    b_is_higher = ratio > 1.0
    return "faster" if b_is_higher == higher_is_better else "slower"


def regression_exceeds(c: Comparison, bound: float, *, higher_is_better: bool) -> bool:
    """True iff ``c`` is a significant slowdown larger than ``bound`` (0.05 = 5%).

    The slowdown is ``ratio - 1`` when lower is better and ``1 - ratio`` when higher is
    better. ``higher_is_better`` must be the value ``c`` was computed with.
    """
    if c.verdict != "slower":
        return False
    slowdown = (1.0 - c.ratio) if higher_is_better else (c.ratio - 1.0)
    if slowdown <= 0.0:
        raise ValueError(
            f"a 'slower' comparison with ratio {c.ratio:.4g} cannot have higher_is_better={higher_is_better}"
        )
    return slowdown > bound


@dataclass(frozen=True)
class PairedRatio:
    """candidate/reference from paired units (ABBA pairs of trials, interleaved rounds of blocks).

    ``ratio`` is the geometric mean of the per-pair ratios, ``exp(mean log(candidate/reference))``;
    ``[low, high]`` its t interval (one-sample t on the per-pair log ratios, df = n - 1), None below
    two pairs; ``sd_log`` the standard deviation of the per-pair log ratios (None below two pairs);
    ``p_value`` the two-sided one-sample t test of a mean log ratio of 0.
    """

    ratio: float
    low: float | None
    high: float | None
    n: int
    sd_log: float | None
    p_value: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_log_ratio(reference: Sequence[float], candidate: Sequence[float],
                     confidence: float = 0.95) -> PairedRatio:
    """The paired per-pair log-ratio t interval: the one method behind ``ab`` (pairs of trials), the
    overhead ratio (rounds of Lightning and bare blocks) and the open division's ablation (rounds of
    candidate and closed blocks). Pair k of ``reference`` and of ``candidate`` ran side by side, so
    whatever drifts between pairs cancels in their ratio."""
    ref, cand = as_samples(reference, "reference"), as_samples(candidate, "candidate")
    if ref.size != cand.size:
        raise ValueError(f"paired figures need as many candidate as reference values, got {cand.size} and {ref.size}")
    if np.any(ref <= 0) or np.any(cand <= 0):
        raise ValueError("paired ratios need strictly positive figures (times or rates)")
    check_confidence(confidence)
    diff = np.log(cand) - np.log(ref)
    n, ratio = int(diff.size), math.exp(float(np.mean(diff)))
    method = (f"geometric mean of {n} per-pair ratios; {confidence:.0%} interval: one-sample t on the per-pair "
              f"log ratios (df {n - 1}), exponentiated")
    if n < 2:
        return PairedRatio(ratio, None, None, n, None, None, f"{method}: no interval from one pair")
    if np.ptp(diff) <= 1e-12:  # every pair agrees to rounding: a point, and t has no spread to work with
        return PairedRatio(ratio, ratio, ratio, n, 0.0, 1.0 if abs(ratio - 1.0) <= 1e-12 else 0.0, method)
    test = scipy_stats().ttest_1samp(diff, 0.0)
    ci = test.confidence_interval(confidence)
    return PairedRatio(ratio, math.exp(float(ci.low)), math.exp(float(ci.high)), n, float(np.std(diff, ddof=1)),
                       float(test.pvalue), method)


def block_medians(blocks: Sequence[Sequence[float]]) -> list[float]:
    """The median of each block (a round's steps share its state: the block is the unit, not the step)."""
    return [float(np.median(as_samples(block, "block"))) for block in blocks]


def paired_block_ratio(reference: Sequence[Sequence[float]], candidate: Sequence[Sequence[float]],
                       confidence: float = 0.95) -> PairedRatio:
    """``paired_log_ratio`` over interleaved rounds: round k's candidate block median over its reference
    block median (rounds beyond the shorter side are left out)."""
    rounds = min(len(reference), len(candidate))
    return paired_log_ratio(block_medians(reference[:rounds]), block_medians(candidate[:rounds]), confidence)
