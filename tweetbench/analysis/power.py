"""Power and multiplicity: the smallest change a design can show, the trials it needs, Holm's adjustment."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from tweetbench.analysis.samples import scipy_stats

PowerDesign = Literal["paired", "independent"]
POWER = 0.8
"""The power at which ``detectable_change`` states the smallest change a design can show."""
# The changes offered as the second figure of ``detectable_text`` ("to show 3%, use 24").
TARGET_CHANGES = (0.01, 0.02, 0.03, 0.05, 0.10, 0.20, 0.50)


def _standard_error_and_df(sd_log: float, n: int, design: PowerDesign) -> tuple[float, int]:
    """Paired: n pairs, ``sd_log`` the sd of the pair log ratios. Independent: n trials a side, ``sd_log``
    the pooled within-side sd of the log figures (two-sample t, equal counts)."""
    if design == "paired":
        return sd_log / math.sqrt(n), n - 1
    return sd_log * math.sqrt(2.0 / n), 2 * n - 2


def _power(ncp: float, df: int, alpha: float) -> float:
    stats = scipy_stats()
    crit = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    power = float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))
    if math.isnan(power):  # scipy's nct gives up far in the tail: there the power is 0 or 1
        return 1.0 if ncp > crit else 0.0
    return power


def detectable_change(sd_log: float, n: int, design: PowerDesign = "paired", *, alpha: float = 0.05,
                      power: float = POWER) -> float | None:
    """The smallest change (0.08 = 8%) that a two-sided t test at ``alpha`` shows with probability ``power``,
    at a spread of ``sd_log`` (the sd of the log figures: see ``_standard_error_and_df``) and ``n`` pairs or
    trials a side, as pyperf's ``required_nprocesses`` reasons. None below two (no spread to test against)."""
    if n < 2 or not (math.isfinite(sd_log) and sd_log >= 0):
        return None
    if sd_log == 0.0:
        return 0.0
    se, df = _standard_error_and_df(sd_log, n, design)
    ncp = scipy_stats().norm.ppf(power) + scipy_stats().norm.ppf(1 - alpha / 2)  # a start above the root
    from scipy.optimize import brentq  # on first use, as samples.scipy_stats

    hi = max(ncp, 1.0)
    while _power(hi, df, alpha) < power:
        hi *= 2.0
    root = brentq(lambda x: _power(x, df, alpha) - power, 0.0, hi, xtol=1e-4)
    return math.expm1(root * se)


def units_needed(sd_log: float, change: float, design: PowerDesign = "paired", *, alpha: float = 0.05,
                 power: float = POWER, most: int = 100_000) -> int | None:
    """The fewest pairs (or trials a side) whose test shows ``change`` with ``power``; None beyond ``most``."""
    if not change > 0:
        raise ValueError(f"change must be above 0, got {change}")

    def enough(n: int) -> bool:
        found = detectable_change(sd_log, n, design, alpha=alpha, power=power)
        return found is not None and found <= change

    if not enough(most):
        return None
    # Start from the normal approximation, then step to the exact t answer (a few evaluations, not a search).
    z = scipy_stats().norm.ppf(1 - alpha / 2) + scipy_stats().norm.ppf(power)
    n = min(most, max(2, math.ceil((z * sd_log / math.log1p(change)) ** 2 * (1 if design == "paired" else 2))))
    while not enough(n):
        n += 1
    while n > 2 and enough(n - 1):
        n -= 1
    return n


def detectable_text(sd_log: float | None, n: int, design: PowerDesign = "paired", target: float | None = None,
                    *, alpha: float = 0.05) -> str | None:
    """"at this spread (sd 3.1% between pairs), 6 pairs can show a change of 8.2% or more; to show 3%, use 24"
    (80% power, two-sided at ``alpha``). ``target``: the change to size for; default the largest of
    ``TARGET_CHANGES`` at most 80% of the detectable one. None when there is no spread to reason from."""
    if sd_log is None:
        return None
    found = detectable_change(sd_log, n, design, alpha=alpha)
    if found is None:
        return None
    unit = "pairs" if design == "paired" else "trials a side"
    spread = "between pairs" if design == "paired" else "between trials"
    text = (f"at this spread (sd {sd_log:.1%} {spread}), {n} {unit} can show a change of {found:.1%} or more "
            f"({POWER:.0%} power, two-sided {alpha:g})")
    if target is None:  # a round figure clearly below the one shown ("8.2%; to show 5%", not "2.0%; to show 2%")
        below = [t for t in TARGET_CHANGES if t <= 0.8 * found]
        target = below[-1] if below else None
    if target is not None and target > 0:
        needed = units_needed(sd_log, target, design, alpha=alpha)
        if needed is None:
            text += f"; {target:.0%} is out of reach"
        else:
            text += (f"; to show {target:.0%}, use {needed}" if target < found
                     else f"; {target:.0%} needs only {needed}")
    return text


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error at most alpha when each is compared to alpha)."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    adjusted = np.empty(p.size)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(x) for x in adjusted]

