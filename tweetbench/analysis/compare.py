"""``tweetbench compare A B``: is run B faster or slower than run A, device by device?

For each device that ran ok on both sides and each metric (training throughput, batch-1
latency, batch-N throughput), the comparison gives the ratio B/A of the medians of the raw
per-step samples with its 95% bootstrap interval, and a verdict:

1. **Per-step test** (always): ``stats.compare_samples`` on the raw per-step samples of all
   trials pooled: two-sided Mann-Whitney U plus a bootstrap interval of the ratio of medians;
   significant iff p < 0.05, the interval excludes 1 and the change is at least 1%.
2. **Trial check** (when both sides have >= 3 trials): steps of one run share the machine's
   state, so the per-step test alone overstates the evidence across runs. ``compare_samples``
   is then also run on the per-trial medians, and a significant per-step verdict stands only
   if the trial-level ratio interval excludes 1 on the same side; otherwise the verdict is
   *no significant difference*. With 3 trials a side that means every trial of B is beyond
   every trial of A.

Comparing results of different workload fingerprints is refused unless explicitly allowed:
their ratio would measure different work, not different speed. ``--fail-on-regression``
turns a significant slowdown beyond a bound into a non-zero exit code (``REGRESSION_EXIT``).

``compare_records`` is pure; ``load_side`` is the only part that reads files.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweetbench.analysis.stats import (
    Comparison,
    Verdict,
    compare_samples,
    regression_exceeds,
)
from tweetbench.errors import ResultsError, UsageError
from tweetbench.records import lookup, read_result
from tweetbench.records.run import load_run

Record = Mapping[str, Any]
REGRESSION_EXIT = 1
MIN_TRIALS_FOR_CHECK = 3
NO_DIFFERENCE: Verdict = "no significant difference"


@dataclass(frozen=True)
class Metric:
    """A compared metric: where its raw per-step seconds are, and how they become the shown unit."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    raw_path: tuple[str, ...]
    trial_key: str  # the per-trial median of the same per-step time, in ms (trials.trial_figures)
    batch_path: tuple[str, ...] | None  # throughput = batch / seconds; None: the time itself, in ms

    def label_for(self, record: Record) -> str:
        batch = lookup(record, "metrics", *self.batch_path) if self.batch_path else None
        return self.label.format(batch=batch if batch is not None else "N")

    def transform(self, record: Record, seconds: Sequence[float]) -> list[float]:
        """Per-step seconds to the shown unit: samples/s (batch / seconds) or milliseconds."""
        if self.batch_path is None:
            return [s * 1e3 for s in seconds]
        batch = float(lookup(record, "metrics", *self.batch_path))
        return [batch / s for s in seconds]

    def transform_ms(self, record: Record, milliseconds: Sequence[float]) -> list[float]:
        return self.transform(record, [m / 1e3 for m in milliseconds])


METRICS: tuple[Metric, ...] = (
    Metric("train", "training throughput", "samples/s", True, ("training", "raw_step_s"), "step_p50_ms",
           ("training", "batch_size")),
    Metric("latency", "batch-1 latency", "ms", False, ("inference", "raw_latency_s"), "latency_batch1_p50_ms",
           None),
    Metric("offline", "batch-{batch} throughput", "samples/s", True, ("inference", "offline", "raw_batch_s"),
           "offline_batch_p50_ms", ("inference", "offline", "batch_size")),
)


@dataclass(frozen=True)
class Row:
    """One device and metric: medians, the per-step and trial-level comparisons, and the verdict."""

    device: str
    metric: Metric
    label: str
    a_median: float
    b_median: float
    steps: Comparison
    trials: Comparison | None
    trial_counts: tuple[int, int]
    verdict: Verdict
    note: str
    regression: bool

    @property
    def ratio(self) -> float:
        return self.steps.ratio

    @property
    def change(self) -> float:
        """Signed change, positive = better, as the gate measures it (``stats.regression_exceeds``):
        ``ratio - 1`` for throughput, ``1 - ratio`` for latency; -0.10 = 10% worse."""
        return (self.ratio - 1.0) if self.metric.higher_is_better else (1.0 - self.ratio)


@dataclass(frozen=True)
class RunComparison:
    """Everything ``tweetbench compare`` shows; rendered by ``tweetbench.report.compare``."""

    a: str
    b: str
    rows: tuple[Row, ...]
    notes: tuple[str, ...]
    workloads_differ: bool
    bound: float | None
    method: str

    @property
    def regressions(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.regression)

    @property
    def exit_code(self) -> int:
        """``REGRESSION_EXIT`` when a gate was set and a significant slowdown exceeds it, else 0."""
        return REGRESSION_EXIT if self.regressions else 0


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what the user named and the device results it holds."""

    label: str
    records: tuple[dict[str, Any], ...]
    single_file: bool


# --------------------------------------------------------------------------- inputs


def parse_bound(text: str) -> float:
    """``'5%'`` -> 0.05. The percent sign is required, so that '5' cannot be misread as 500%."""
    value = text.strip()
    if not value.endswith("%"):
        raise UsageError(f"--fail-on-regression takes a percentage such as 5%, got {text!r}: write {value}% "
                         "(the % sign is required, so that 5 is never read as 500%)")
    try:
        number = float(value[:-1])
    except ValueError:
        raise UsageError(f"--fail-on-regression takes a percentage such as 5%, got {text!r}") from None
    if not math.isfinite(number) or number < 0:
        raise UsageError(f"--fail-on-regression must be a percentage of zero or more, got {text!r}")
    return number / 100.0


def load_side(path: Path) -> Side:
    """A run directory (its per-device results) or one result JSON file, validated."""
    if not path.exists():
        raise ResultsError(f"{path} does not exist: pass a run directory (results/<run-id>) or a device JSON file")
    if path.is_dir():
        _, results = load_run(path)
        if not results:
            raise ResultsError(f"{path} holds no device results")
        return Side(str(path), tuple(r.to_dict() for r in results), False)
    return Side(str(path), (read_result(path).to_dict(),), True)


# --------------------------------------------------------------------------- the comparison


def _pairs(a: Side, b: Side) -> tuple[list[tuple[str, Record, Record]], list[str]]:
    """Device pairs to compare, and notes on the devices that cannot be."""
    if a.single_file and b.single_file:
        ra, rb = a.records[0], b.records[0]
        name_a, name_b = ra["device"]["name"], rb["device"]["name"]
        return [(name_a if name_a == name_b else f"{name_a} → {name_b}", ra, rb)], []
    by_name_b = {r["device"]["name"]: r for r in b.records}
    names_a = [r["device"]["name"] for r in a.records]
    pairs = [(r["device"]["name"], r, by_name_b[r["device"]["name"]]) for r in a.records
             if r["device"]["name"] in by_name_b]
    notes = [f"{name}: only in A" for name in names_a if name not in by_name_b]
    notes += [f"{name}: only in B" for name in by_name_b if name not in names_a]
    return pairs, notes


def _fingerprint(record: Record) -> str:
    return str(lookup(record, "workload", "fingerprint") or "none")


def _workload(record: Record) -> str:
    return f"{record['workload']['name']} {_fingerprint(record)[:19]}…"


def check_workloads(pairs: Sequence[tuple[str, Record, Record]], allow: bool) -> list[str]:
    """Refuse (``ResultsError``) pairs measured on different workload fingerprints unless ``allow``;
    with ``allow``, return one warning per such pair."""
    differ = [f"{device}: A ran {_workload(ra)}, B ran {_workload(rb)}"
              for device, ra, rb in pairs if _fingerprint(ra) != _fingerprint(rb)]
    if differ and not allow:
        raise ResultsError(f"A and B measured different workloads ({'; '.join(differ)}): their ratio would compare "
                           "different work, not different speed. Pass --allow-different-workloads to compare anyway")
    return [f"different workloads: {line}" for line in differ]


def _trial_medians(record: Record, metric: Metric) -> list[float] | None:
    """The per-trial medians of ``metric`` (in its shown unit), or None if the record has no trials."""
    per_trial = lookup(record, "trials", "per_trial") or []
    values = [t.get(metric.trial_key) for t in per_trial if t.get("status") == "ok"]
    if not values or any(not isinstance(v, int | float) or v <= 0 for v in values):
        return None
    return metric.transform_ms(record, values)


def _final_verdict(steps: Comparison, trials: Comparison | None) -> tuple[Verdict, str]:
    if trials is None:
        return steps.verdict, f"per-step test only (a side has fewer than {MIN_TRIALS_FOR_CHECK} trials)"
    if steps.verdict == NO_DIFFERENCE:
        return NO_DIFFERENCE, ""
    same_side = trials.low > 1.0 if steps.ratio > 1.0 else trials.high < 1.0
    if not same_side:
        return NO_DIFFERENCE, "per-step difference not reproduced across trials"
    return steps.verdict, ""


def compare_metric(device: str, metric: Metric, ra: Record, rb: Record, bound: float | None) -> Row | None:
    """One row, or None if a side lacks the metric's raw samples."""
    raw_a, raw_b = lookup(ra, "metrics", *metric.raw_path), lookup(rb, "metrics", *metric.raw_path)
    if not raw_a or not raw_b:
        return None
    a, b = metric.transform(ra, raw_a), metric.transform(rb, raw_b)
    steps = compare_samples(a, b, higher_is_better=metric.higher_is_better)
    ta, tb = _trial_medians(ra, metric), _trial_medians(rb, metric)
    counts = (len(ta) if ta else 1, len(tb) if tb else 1)
    trials = None
    if ta and tb and min(len(ta), len(tb)) >= MIN_TRIALS_FOR_CHECK:
        trials = compare_samples(ta, tb, higher_is_better=metric.higher_is_better)
    verdict, note = _final_verdict(steps, trials)
    final = dataclasses.replace(steps, verdict=verdict)
    regression = bound is not None and regression_exceeds(final, bound, higher_is_better=metric.higher_is_better)
    return Row(device, metric, metric.label_for(rb), statistics.median(a), statistics.median(b), steps, trials,
               counts, verdict, note, regression)


def method_text(bound: float | None) -> str:
    text = (f"Ratio B/A of the medians of the raw per-step samples (all trials pooled), 95% bootstrap-percentile "
            f"interval (2000 resamples of each side); two-sided Mann-Whitney U. Significant iff p < 0.05, the "
            f"interval excludes 1 and the change is >= 1%. When both sides have >= {MIN_TRIALS_FOR_CHECK} trials, "
            f"a significant per-step verdict also needs the same test's interval on the per-trial medians to "
            f"exclude 1 on the same side.")
    if bound is not None:
        text += f" Regression gate: a significant slowdown of more than {bound:.1%} fails."
    return text


def compare_records(a: Side, b: Side, *, allow_different_workloads: bool = False,
                    bound: float | None = None) -> RunComparison:
    """Compare every device that ran ok on both sides, metric by metric."""
    if bound is not None and not (math.isfinite(bound) and bound >= 0):
        raise UsageError(f"the regression bound must be zero or more, got {bound}")
    pairs, notes = _pairs(a, b)
    notes += check_workloads(pairs, allow_different_workloads)
    rows: list[Row] = []
    for device, ra, rb in pairs:
        not_ok = [f"{side} is {r['status']} ({r['reason']})" for side, r in (("A", ra), ("B", rb))
                  if r["status"] != "ok"]
        if not_ok:
            notes.append(f"{device}: not compared: {'; '.join(not_ok)}")
            continue
        for side, r in (("A", ra), ("B", rb)):
            if r.get("noisy"):
                notes.append(f"{device}: {side} is noisy ({'; '.join(r.get('noise_reasons') or [])}): "
                             "treat small differences with care")
        for metric in METRICS:
            row = compare_metric(device, metric, ra, rb, bound)
            if row is None:
                notes.append(f"{device}: {metric.label_for(rb)} not compared: a side has no raw samples")
            else:
                rows.append(row)
    if not rows:
        raise ResultsError("nothing to compare: no device ran ok in both A and B"
                           + (f" ({'; '.join(notes)})" if notes else ""))
    return RunComparison(a.label, b.label, tuple(rows), tuple(notes),
                         any(n.startswith("different workloads") for n in notes), bound, method_text(bound))
