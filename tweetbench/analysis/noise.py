"""Is a result too noisy to trust? The spreads within and between trials, their limits and the verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tweetbench.analysis.samples import as_samples, scipy_stats

NOISY_BETWEEN = 0.05
"""A result is noisy when its per-trial figures spread more than this (sd of their logs, ~ their CV). Why 5%:
at that spread the default 8 interleaved pairs show a change of 8.5% with 80% power (``detectable_change``);
beyond it, the changes a user usually hunts (5-10%) fall out of reach of the default design."""
NOISY_PAIRS = NOISY_BETWEEN * math.sqrt(2.0)
"""The same threshold for ``ab``'s pair log ratios: the difference of two trials has sqrt(2) their spread."""
NOISY_MAD = 0.10
"""A trial is noisy within when the robust spread of its steps (normal-scaled MAD over the median) exceeds
10%: half its steps then lie beyond ±7% of the median, so the typical step itself varied through the window
(contention throughout), which a handful of stalls can never do (the MAD ignores them, where one stall
inflates a CV past any threshold)."""


def robust_spread(values: Sequence[float]) -> float:
    """The normal-scaled median absolute deviation over the median (a CV that a few stalls cannot move)."""
    arr = as_samples(values)
    median = float(np.median(arr))
    mad = float(scipy_stats().median_abs_deviation(arr, scale="normal"))
    return mad / median if median != 0.0 else 0.0


def log_spread(values: Sequence[float]) -> float | None:
    """The sd (ddof=1) of the logs of positive figures (~ their CV); None below two."""
    arr = as_samples(values)
    if arr.size < 2:
        return None
    if np.any(arr <= 0):
        raise ValueError("log_spread needs strictly positive figures")
    return float(np.std(np.log(arr), ddof=1))



@dataclass(frozen=True)
class NoiseVerdict:
    """Whether a result is too noisy to trust, why, and the spreads it measured."""

    noisy: bool
    reasons: tuple[str, ...]
    between: float | None  # sd of the log per-trial figures; None below two trials
    within: tuple[float, ...]  # each trial's robust step spread (``robust_spread``)


def noise_verdict(per_trial: Sequence[float], within: Sequence[float], *, what: str = "per-trial figures",
                  between_limit: float = NOISY_BETWEEN) -> NoiseVerdict:
    """Noisy if the per-trial figures spread more than ``between_limit`` (sd of their logs) or a trial's
    robust step spread exceeds ``NOISY_MAD``; one reason per problem, trials numbered from 1."""
    between = log_spread(per_trial) if len(per_trial) >= 2 else None
    reasons = []
    if between is not None and between > between_limit:
        reasons.append(f"between-trial spread {between:.1%} (sd of the log {what} over {len(per_trial)} trials) "
                       f"> {between_limit:.0%}")
    reasons += [f"trial {i}: its typical step varied, MAD/median {spread:.1%} > {NOISY_MAD:.0%}"
                for i, spread in enumerate(within, start=1) if spread > NOISY_MAD]
    return NoiseVerdict(bool(reasons), tuple(reasons), between, tuple(float(x) for x in within))


NOISE_RULE = (f"noisy if the per-trial figures spread more than {NOISY_BETWEEN:.0%} (sd of their logs: beyond it "
              "the default 8 interleaved pairs cannot show a 9% change), or a trial's steps have a robust spread "
              f"(normal-scaled MAD over the median) above {NOISY_MAD:.0%} (the typical step varied through the "
              "window; a few stalls cannot trip it, unlike a CV)")
