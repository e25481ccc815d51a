"""The regression gate: a bound from ``--fail-on-regression``, the decision from an interval against it, and
the drift allowance of two runs made at different times."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tweetbench.analysis.figures import Metric
from tweetbench.analysis.replication import Design, TrialTest
from tweetbench.errors import UsageError

# --fail-on-regression: a gated interval wholly beyond the bound exits 1; with none, a gate that could not
# decide (unresolved, cannot show, drift) exits 5, so that CI can treat it as it chooses.
REGRESSION_EXIT = 1
UNDECIDED_EXIT = 5
# Two runs made at different times differ by the machine's drift as well as by any change. On this project's
# shared 2-core VM, runs of one configuration minutes apart differed by up to 25% (ENVIRONMENT.md: bare v1
# loops in fresh processes read 913, 804 and 854 samples/s; up to 25% between runs): a sequential gate convicts
# only beyond the bound plus this much (or plus what the runs' own trials show, if more). --drift sets it for a
# machine whose drift the user measured (e.g. with A/A runs).
SEQUENTIAL_DRIFT = 0.25
# What a gated row's gate decided: regression (exit 1), pass, or one of the undecided states (exit 5).
Gate = Literal["", "pass", "regression", "unresolved", "cannot show", "drift"]
UNDECIDED_GATES: tuple[Gate, ...] = ("unresolved", "cannot show", "drift")


def parse_bound(text: str, flag: str = "--fail-on-regression") -> float:
    """``'5%'`` -> 0.05. The percent sign is required, so that '5' cannot be misread as 500%."""
    value = text.strip()
    if not value.endswith("%"):
        raise UsageError(f"{flag} takes a percentage such as 5%, got {text!r}: write {value}% "
                         "(the % sign is required, so that 5 is never read as 500%)")
    try:
        number = float(value[:-1])
    except ValueError:
        raise UsageError(f"{flag} takes a percentage such as 5%, got {text!r}") from None
    if not math.isfinite(number) or number < 0:
        raise UsageError(f"{flag} must be a percentage of zero or more, got {text!r}")
    return number / 100.0


def _worse(ratio: float, metric: Metric) -> float:
    """How much worse B is at ``ratio`` (0.10 = 10% worse): ``1 - ratio`` for throughput, ``ratio - 1`` for time."""
    return (1.0 - ratio) if metric.higher_is_better else (ratio - 1.0)


def _beyond(ratio: float, metric: Metric, bound: float, drift: float) -> bool:
    """Whether ``ratio`` is worse than ``bound``, with a margin of ``drift`` (log) on top."""
    if metric.higher_is_better:
        return ratio < (1.0 - bound) * math.exp(-drift)
    return ratio > (1.0 + bound) * math.exp(drift)


def gate(test: TrialTest, metric: Metric, bound: float, drift: float = 0.0) -> tuple[Gate, str]:
    """The gate's decision from the interval against ``bound`` (0.05 = 5% worse): regression when the whole
    interval lies beyond it (and beyond it by more than ``drift``, the log allowance of two runs made at
    different times), pass when none of it does, unresolved when it straddles the bound."""
    if test.verdict == "cannot show" or test.low is None or test.high is None:
        return "cannot show", test.reason or "no interval"
    best, worst = (test.high, test.low) if metric.higher_is_better else (test.low, test.high)
    text = (f"worse by [{_worse(best, metric):.1%}, {_worse(worst, metric):.1%}] (95% interval) against the "
            f"{bound:.1%} bound")
    if not _beyond(worst, metric, bound, 0.0):
        return "pass", f"{text}: none of it beyond"
    if not _beyond(best, metric, bound, 0.0) or test.verdict != "slower":
        return "unresolved", f"unresolved: {text} straddles it"
    if not _beyond(best, metric, bound, drift):
        return "drift", (f"{text}: beyond it, but by less than the drift two runs made at different times "
                         "may hold")
    return "regression", f"{text}: all of it beyond"


def _trend(logs: Sequence[np.ndarray]) -> float:
    """The common slope (log figure per trial) of the trials in their order, fitted within each run."""
    centred = [(np.arange(x.size) - (x.size - 1) / 2.0, x - x.mean()) for x in logs if x.size >= 2]
    sxx = sum(float(np.dot(t, t)) for t, _ in centred)
    return sum(float(np.dot(t, y)) for t, y in centred) / sxx if sxx > 0 else 0.0


def measured_drift(fa: Sequence[float], fb: Sequence[float], floor: float = SEQUENTIAL_DRIFT) -> tuple[float, str]:
    """The drift allowance (log scale) for two runs made at different times, and how it was measured.

    The largest of ``floor`` (the drift measured between runs on a shared machine: ``SEQUENTIAL_DRIFT``) and
    what the runs' own trials show: the widest spread of either run's per-trial figures (the machine moved
    that much within one run), and their trial-order trend carried across the gap between the runs' middles."""
    logs = [np.log(np.asarray(f, dtype=float)) for f in (fa, fb)]
    within = max(float(np.ptp(x)) for x in logs)
    carried = abs(_trend(logs)) * (len(fa) + len(fb)) / 2.0
    drift = max(math.log1p(floor), within, carried)
    how = (f"allowance {math.expm1(drift):.1%} = the largest of --drift {floor:.0%}, the widest within-run spread "
           f"{math.expm1(within):.1%} and the trial-order trend carried across the gap {math.expm1(carried):.1%}")
    return drift, how


@dataclass(frozen=True)
class GateOptions:
    """How rows are gated: the bound (None: no gate), the primary metric (None: every metric), the design,
    and the drift floor of runs made at different times (None: they were not)."""

    bound: float | None = None
    primary: str | None = None
    design: Design = "independent"
    drift: float | None = None
