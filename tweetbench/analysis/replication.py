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
* **spread** ``sd_log``: the sd of the pair log ratios (paired), or the pooled within-side sd of the log
  figures (independent); from it, ``power.detectable_text`` states the smallest change these counts can
  show at 80% power, and how many it takes to show a smaller one.

Verdict: a side with one trial, or too few trials to reach ``alpha``, *cannot show*; not significant
(p >= alpha, the interval holds 1, or the change is under ``min_effect``) is *no significant difference*;
otherwise *faster* or *slower*. The spread never overrules a significant result: the p-value and the
interval already account for it (an older rule that left a change smaller than the spread "unresolved"
hid a real 15% slowdown in 85% of draws at 8 trials a side). A regression gate decides from the interval
against its bound (``gate.gate``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from tweetbench.analysis.power import detectable_text
from tweetbench.analysis.ratios import paired_log_ratio
from tweetbench.analysis.samples import scipy_stats

TrialVerdict = Literal["faster", "slower", "no significant difference", "unresolved", "cannot show"]
TRIAL_VERDICTS: tuple[TrialVerdict, ...] = ("faster", "slower", "no significant difference", "unresolved",
                                            "cannot show")
# Verdicts that neither clear nor convict B. The trial test gives only "cannot show"; "unresolved" is the
# gate's word for an interval that straddles its bound (gate.gate), kept here for the report's colours.
UNDECIDED: tuple[TrialVerdict, ...] = ("unresolved", "cannot show")
Design = Literal["independent", "paired"]

# Arrangements enumerated exactly (8 vs 8 trials: 12,870; 14 pairs: 16,384); beyond, a seeded Monte Carlo.
EXACT_LIMIT = 20_000
MONTE_CARLO_RESAMPLES = 20_000


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


@functools.lru_cache(maxsize=64)
def _arrangements(n_a: int, n_b: int, design: Design) -> np.ndarray:
    """Every label arrangement the exact test weighs, as a 0/1 matrix (1: the figure counts as B)."""
    if design == "paired":  # one row per sign pattern: 1 keeps the pair as it ran, 0 swaps A and B
        return np.array(list(itertools.product((1, 0), repeat=n_a)), dtype=float)
    rows = np.zeros((math.comb(n_a + n_b, n_b), n_a + n_b))
    for i, chosen in enumerate(itertools.combinations(range(n_a + n_b), n_b)):
        rows[i, list(chosen)] = 1.0
    return rows


def _exact_p(a: np.ndarray, b: np.ndarray, design: Design) -> float:
    """The exact two-sided p over every arrangement, as ``scipy.stats.permutation_test`` defines it
    (twice the smaller tail, ties counted), vectorised over all arrangements."""
    labels = _arrangements(a.size, b.size, design)
    if design == "paired":
        diff = b - a
        null = ((2.0 * labels - 1.0) @ diff) / diff.size
        observed = float(np.mean(diff))
    else:
        pooled = np.concatenate([a, b])
        null = (labels @ pooled) / b.size - ((1.0 - labels) @ pooled) / a.size
        observed = float(np.mean(b) - np.mean(a))
    # Arrangements tied with the observed one in exact arithmetic differ here by rounding: count them as ties
    # (scipy's own relative 1e-14 misses sums of large logs, e.g. figures in microseconds against milliseconds).
    tolerance = 1e-9 * max(1.0, float(np.max(np.abs(np.concatenate([a, b])))))
    less = np.count_nonzero(null <= observed + tolerance) / null.size
    greater = np.count_nonzero(null >= observed - tolerance) / null.size
    return float(min(1.0, 2.0 * min(less, greater)))


def permutation_p(log_a: Sequence[float], log_b: Sequence[float], design: Design = "independent",
                  seed: int = 0) -> float:
    """Two-sided p of the permutation test of mean(log_b) - mean(log_a): exact up to ``EXACT_LIMIT``
    arrangements (enumerated here, as scipy's ``permutation_test`` would, a hundred times faster), else
    ``scipy.stats.permutation_test``'s Monte Carlo of ``MONTE_CARLO_RESAMPLES`` seeded with ``seed``."""
    a, b = np.asarray(log_a, dtype=float), np.asarray(log_b, dtype=float)
    if design == "paired" and a.size != b.size:
        raise ValueError(f"a paired test needs as many A as B figures, got {a.size} and {b.size}")
    if arrangements(a.size, b.size, design) <= EXACT_LIMIT:
        return _exact_p(a, b, design)
    result = scipy_stats().permutation_test(
        (a, b), _mean_difference, permutation_type="samples" if design == "paired" else "independent",
        vectorized=True, n_resamples=MONTE_CARLO_RESAMPLES, alternative="two-sided",
        random_state=np.random.default_rng(seed))
    return float(min(1.0, result.pvalue))


def ratio_interval(log_a: np.ndarray, log_b: np.ndarray, design: Design,
                   confidence: float) -> tuple[float, float] | None:
    """The interval of B/A from t on the logs (Welch, or ``ratios.paired_log_ratio`` on the pairs); None for a
    side of one figure, and a point when no figure varies."""
    if design == "paired":
        paired = paired_log_ratio(np.exp(log_a), np.exp(log_b), confidence)
        return None if paired.low is None or paired.high is None else (paired.low, paired.high)
    if min(log_a.size, log_b.size) < 2:
        return None
    if np.ptp(log_a) == 0.0 and np.ptp(log_b) == 0.0:
        point = math.exp(float(np.mean(log_b) - np.mean(log_a)))
        return point, point
    ci = scipy_stats().ttest_ind(log_b, log_a, equal_var=False).confidence_interval(confidence)
    return math.exp(float(ci.low)), math.exp(float(ci.high))


def spread_log(log_a: np.ndarray, log_b: np.ndarray, design: Design) -> float | None:
    """The spread the test sees: sd of the pair log ratios (paired), or the pooled within-side sd of the log
    figures (independent); None where a side (or the pairs) has a single figure."""
    if design == "paired":
        return float(np.std(log_b - log_a, ddof=1)) if log_a.size >= 2 else None
    if min(log_a.size, log_b.size) < 2:
        return None
    pooled = (np.var(log_a, ddof=1) * (log_a.size - 1) + np.var(log_b, ddof=1) * (log_b.size - 1))
    return float(math.sqrt(pooled / (log_a.size + log_b.size - 2)))


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
    sd_log: float | None
    design: Design
    verdict: TrialVerdict
    reason: str
    target: float | None = None  # the change the smallest-detectable line sizes for (a gate's bound)
    alpha: float = 0.05

    @property
    def effect(self) -> float:
        """The size of the change, ``|ratio - 1|``."""
        return abs(self.ratio - 1.0)

    @functools.cached_property
    def detectable(self) -> str | None:  # computed on first use: a power calculation is not free
        """The smallest change these counts can show at this spread, and what a smaller one takes (stats)."""
        return detectable_text(self.sd_log, min(self.n_a, self.n_b), self.design, self.target, alpha=self.alpha)

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


def compare_trials(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool,
                   design: Design = "independent", alpha: float = 0.05, min_effect: float = 0.01,
                   seed: int = 0, target: float | None = None) -> TrialTest:
    """Compare B's per-trial figures with A's (all strictly positive); see the module docstring.

    ``paired`` needs as many A as B figures, in trial order. ``target``: the change the smallest-detectable
    line sizes for (a gate's bound), default a round figure below the detectable one.
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
    sd = spread_log(log_a, log_b, design)
    common = {"ratio": ratio, "low": low, "high": high, "smallest_p": smallest_p(a_arr.size, b_arr.size, design),
              "n_a": int(a_arr.size), "n_b": int(b_arr.size), "sd_log": sd, "design": design,
              "target": target if target else None, "alpha": alpha}
    why_not = _cannot_show(a_arr.size, b_arr.size, design, alpha)
    if why_not is not None:
        return TrialTest(p_value=None, verdict="cannot show", reason=why_not, **common)  # type: ignore[arg-type]
    p_value = permutation_p(log_a, log_b, design, seed)
    excludes_one = low is not None and high is not None and (low > 1.0 or high < 1.0)
    if not (p_value < alpha and excludes_one and abs(ratio - 1.0) >= min_effect):
        return TrialTest(p_value=p_value, verdict="no significant difference", reason="",
                         **common)  # type: ignore[arg-type]
    verdict: TrialVerdict = "faster" if (ratio > 1.0) == higher_is_better else "slower"
    return TrialTest(p_value=p_value, verdict=verdict, reason="", **common)  # type: ignore[arg-type]


def method_text(design: Design, alpha: float = 0.05, min_effect: float = 0.01) -> str:
    """The trial rule in words, for reports."""
    if design == "paired":
        test = ("exact two-sided permutation test of the mean log ratio, swapping A and B within each ABBA pair "
                "(sign flips); ratio B/A = geometric mean of the pair ratios, 95% interval from the one-sample t "
                "on the pair log ratios (ratios.paired_log_ratio, as the overhead and the ablation use)")
    else:
        test = ("exact two-sided permutation test (every split enumerated, as scipy.stats.permutation_test) of the "
                "difference of the mean log per-trial figures; ratio B/A = ratio of the geometric means of the "
                "per-trial figures, 95% interval from Welch's t on the log figures")
    return (f"Trials are the unit: one figure per trial (a fresh process) and metric. {test}. Faster or slower "
            f"iff p < {alpha:g}, the interval excludes 1 and the change is >= {min_effect:.0%}; a single-trial side, "
            f"or too few trials for the exact test to reach {alpha:g}, cannot show a difference. The smallest "
            "detectable change is a t-test power calculation (80% power) at the measured spread.")
