"""Is B faster or slower than A, with trials (independent worker processes) as the unit of replication?

The steps of one trial share its process and the machine's state while it ran, so thousands of steps
are not thousands of independent samples: a per-step test answers "did these two processes differ?",
never "would another run differ?". Here each trial gives one figure per metric, and the verdict rests
on those few figures alone, with tests that are valid at small n:

* **p-value**: an exact two-sided permutation test (``scipy.stats.permutation_test``) of the mean of
  the log figures. ``independent`` design: the trials of A and B are exchangeable under "no
  difference", so every split of the pooled figures into |A| and |B| is enumerated. ``paired``
  design (interleaved A/B, ``tweetbench ab``): trial k of A and trial k of B ran side by side (one ABBA
  pair), so only the labels within each pair are swapped, which removes drift shared by the pair.
  Beyond ``EXACT_LIMIT`` arrangements a seeded Monte Carlo of ``MONTE_CARLO_RESAMPLES`` stands in.
* **ratio** B/A: ``exp(mean log B - mean log A)``, the ratio of the geometric means; its interval is
  Welch's t on the log figures (independent) or the one-sample t on the per-pair log ratios (paired).
* **smallest p**: an exact test of m and n figures cannot go below ``2 / C(m+n, m)`` (independent)
  or ``2 / 2**n`` (paired): 3 vs 3 trials can never reach p < 0.05, so such a comparison says so
  rather than pretend (``trials_needed`` gives the count that can).
* **within-side spread**: how far the trials of one side disagree among themselves, the larger of
  ``max/min - 1`` over the two sides; in the paired design, what is left of each side once the level
  a pair shares is taken out, ``exp(range of the pair log ratios / 2) - 1``.

Verdict, in this order: a side with one trial, or too few trials to reach ``alpha``, *cannot show*;
not significant (p >= alpha, the interval holds 1, or the change is under ``min_effect``) is *no
significant difference*; significant, but a side is noisy and the effect is smaller than the
within-side spread, is *unresolved*; otherwise *faster* or *slower*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

TrialVerdict = Literal["faster", "slower", "no significant difference", "unresolved", "cannot show"]
TRIAL_VERDICTS: tuple[TrialVerdict, ...] = ("faster", "slower", "no significant difference", "unresolved",
                                            "cannot show")
# Verdicts that neither clear nor convict B: a CI gate cannot decide on them (see compare.UNDECIDED_EXIT).
UNDECIDED: tuple[TrialVerdict, ...] = ("unresolved", "cannot show")
Design = Literal["independent", "paired"]

# Arrangements enumerated exactly (8 vs 8 trials: 12,870; 14 pairs: 16,384); beyond, a seeded Monte Carlo.
EXACT_LIMIT = 20_000
MONTE_CARLO_RESAMPLES = 20_000


def _stats() -> Any:
    # Imported on first use, as in analysis.stats: reading records does not need scipy.
    from scipy import stats

    return stats


def arrangements(n_a: int, n_b: int, design: Design) -> int:
    """How many label arrangements the exact test weighs: ``C(n_a+n_b, n_a)``, or ``2**n`` pairs."""
    return 2 ** min(n_a, n_b) if design == "paired" else math.comb(n_a + n_b, n_a)


def smallest_p(n_a: int, n_b: int, design: Design = "independent") -> float:
    """The smallest two-sided p-value the exact test can give for these counts (3 vs 3: 0.1)."""
    return min(1.0, 2.0 / arrangements(n_a, n_b, design))


def trials_needed(alpha: float = 0.05, design: Design = "independent") -> int:
    """The fewest trials a side (equal counts) whose exact test can reach p < ``alpha``."""
    n = 2
    while smallest_p(n, n, design) >= alpha:
        n += 1
    return n


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y, axis=axis) - np.mean(x, axis=axis)


def permutation_p(log_a: Sequence[float], log_b: Sequence[float], design: Design = "independent",
                  seed: int = 0) -> float:
    """Two-sided p of the permutation test of mean(log_b) - mean(log_a): exact up to ``EXACT_LIMIT``
    arrangements, else a Monte Carlo of ``MONTE_CARLO_RESAMPLES`` seeded with ``seed``."""
    a, b = np.asarray(log_a, dtype=float), np.asarray(log_b, dtype=float)
    if design == "paired" and a.size != b.size:
        raise ValueError(f"a paired test needs as many A as B figures, got {a.size} and {b.size}")
    count = arrangements(a.size, b.size, design)
    resamples = np.inf if count <= EXACT_LIMIT else MONTE_CARLO_RESAMPLES
    result = _stats().permutation_test(
        (a, b), _mean_difference, permutation_type="samples" if design == "paired" else "independent",
        vectorized=True, n_resamples=resamples, alternative="two-sided", random_state=np.random.default_rng(seed))
    return float(min(1.0, result.pvalue))


def ratio_interval(log_a: np.ndarray, log_b: np.ndarray, design: Design,
                   confidence: float) -> tuple[float, float] | None:
    """The interval of B/A from t on the logs (Welch, or one-sample on pair differences); None for a
    side of one figure, and a point when no figure varies."""
    stats = _stats()
    if design == "paired":
        if log_a.size < 2:
            return None
        diff = log_b - log_a
        if np.ptp(diff) == 0.0:
            return math.exp(diff[0]), math.exp(diff[0])
        ci = stats.ttest_1samp(diff, 0.0).confidence_interval(confidence)
    else:
        if min(log_a.size, log_b.size) < 2:
            return None
        if np.ptp(log_a) == 0.0 and np.ptp(log_b) == 0.0:
            point = math.exp(float(np.mean(log_b) - np.mean(log_a)))
            return point, point
        ci = stats.ttest_ind(log_b, log_a, equal_var=False).confidence_interval(confidence)
    return math.exp(float(ci.low)), math.exp(float(ci.high))


def within_side_spread(a: np.ndarray, b: np.ndarray, design: Design) -> float:
    """How far the trials of a side disagree among themselves (0.08 = 8%); see the module docstring."""
    if design == "paired":
        diff = np.log(b) - np.log(a)
        return math.expm1(float(np.ptp(diff)) / 2.0)
    return max(float(np.max(x) / np.min(x)) - 1.0 for x in (a, b))


@dataclass(frozen=True)
class TrialTest:
    """The trial-level comparison of B with A for one metric; ``verdict`` is the one that counts."""

    ratio: float
    low: float | None
    high: float | None
    p_value: float | None
    smallest_p: float
    n_a: int
    n_b: int
    spread: float
    design: Design
    verdict: TrialVerdict
    reason: str

    @property
    def effect(self) -> float:
        """The size of the change, ``|ratio - 1|``."""
        return abs(self.ratio - 1.0)

    @property
    def decided(self) -> bool:
        return self.verdict not in UNDECIDED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _counts(n_a: int, n_b: int, design: Design) -> str:
    return f"{n_a} interleaved pairs" if design == "paired" else f"{n_a} vs {n_b} trials"


def _cannot_show(n_a: int, n_b: int, design: Design, alpha: float) -> str | None:
    """Why these counts cannot support a verdict, or None if they can."""
    needed = trials_needed(alpha, design)
    if min(n_a, n_b) == 1:
        side = "A" if n_a == 1 else "B"
        return (f"{side} has a single trial, and one trial can't support a verdict (its steps share one process); "
                f"use --repeats {needed} or more")
    floor = smallest_p(n_a, n_b, design)
    if floor >= alpha:
        return (f"{_counts(n_a, n_b, design)} can't show a difference at {alpha:.0%} (the smallest p they can give "
                f"is {floor:.2g}); use --repeats {needed} or more")
    return None


def compare_trials(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool, noisy: bool = False,
                   design: Design = "independent", alpha: float = 0.05, min_effect: float = 0.01,
                   seed: int = 0) -> TrialTest:
    """Compare B's per-trial figures with A's (all strictly positive); see the module docstring.

    ``noisy``: whether either side was flagged noisy (``analysis.trials``); it lets the within-side
    spread overrule a significant result. ``paired`` needs as many A as B figures, in trial order.
    """
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.size == 0 or b_arr.size == 0 or not (np.all(a_arr > 0) and np.all(b_arr > 0)):
        raise ValueError("compare_trials needs at least one strictly positive figure a side")
    if design == "paired" and a_arr.size != b_arr.size:
        raise ValueError(f"a paired comparison needs as many A as B trials, got {a_arr.size} and {b_arr.size}")
    log_a, log_b = np.log(a_arr), np.log(b_arr)
    ratio = math.exp(float(np.mean(log_b) - np.mean(log_a)))
    interval = ratio_interval(log_a, log_b, design, 1.0 - alpha)
    low, high = interval if interval is not None else (None, None)
    spread = within_side_spread(a_arr, b_arr, design)
    floor = smallest_p(a_arr.size, b_arr.size, design)
    common = {"ratio": ratio, "low": low, "high": high, "smallest_p": floor, "n_a": int(a_arr.size),
              "n_b": int(b_arr.size), "spread": spread, "design": design}
    why_not = _cannot_show(a_arr.size, b_arr.size, design, alpha)
    if why_not is not None:
        return TrialTest(p_value=None, verdict="cannot show", reason=why_not, **common)  # type: ignore[arg-type]
    p_value = permutation_p(log_a, log_b, design, seed)
    excludes_one = low is not None and high is not None and (low > 1.0 or high < 1.0)
    effect = abs(ratio - 1.0)
    if not (p_value < alpha and excludes_one and effect >= min_effect):
        return TrialTest(p_value=p_value, verdict="no significant difference", reason="",
                         **common)  # type: ignore[arg-type]
    if noisy and effect < spread:
        return TrialTest(p_value=p_value, verdict="unresolved", reason=(
            f"unresolved: within-side spread {spread:.1%} ≥ effect {effect:.1%}"), **common)  # type: ignore[arg-type]
    verdict: TrialVerdict = "faster" if (ratio > 1.0) == higher_is_better else "slower"
    return TrialTest(p_value=p_value, verdict=verdict, reason="", **common)  # type: ignore[arg-type]


def method_text(design: Design, alpha: float = 0.05, min_effect: float = 0.01) -> str:
    """The trial rule in words, for reports."""
    if design == "paired":
        test = ("exact two-sided permutation test of the mean log ratio, swapping A and B within each ABBA pair "
                "(sign flips); ratio B/A = geometric mean of the pair ratios, 95% interval from the one-sample t "
                "on the pair log ratios; within-side spread = exp(range of the pair log ratios / 2) - 1")
    else:
        test = ("exact two-sided permutation test (scipy.stats.permutation_test, every split enumerated) of the "
                "difference of the mean log per-trial figures; ratio B/A = ratio of the geometric means of the "
                "per-trial figures, 95% interval from Welch's t on the log figures; within-side spread = the "
                "larger side's max/min - 1")
    return (f"Trials are the unit: one figure per trial (a fresh process) and metric. {test}. Faster or slower "
            f"iff p < {alpha:g}, the interval excludes 1 and the change is >= {min_effect:.0%}; a significant "
            "change smaller than the within-side spread of a noisy side is unresolved; a single-trial side, or "
            f"too few trials for the exact test to reach {alpha:g}, cannot show a difference.")
