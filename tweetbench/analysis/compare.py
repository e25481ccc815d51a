"""``tweetbench compare A B``: is run B faster or slower than run A, device by device?

For each device that ran ok on both sides and each metric (training throughput, batch-1
latency, batch-N throughput), the comparison gives the ratio B/A with its 95% interval and a
verdict. **Trials are the unit**: each trial is its own worker process, and the verdict rests on
the per-trial figures alone, through ``replication.compare_trials`` (an exact permutation test,
valid at small n; see there for the rule). So a side with a single trial, or too few trials for
the exact test to reach p < 0.05 (3 vs 3 cannot go below 0.1), *cannot show* a difference. Training
is judged by each trial's **median step** (as batch / median step, samples/s), which stalls barely
move; the record's headline (``metrics.training.headline_statistic``) is the window's throughput, and
where the two differ the report shows both.

**The gate** (``--fail-on-regression PCT``) decides from the interval against the bound: a metric
*regressed* when its whole interval lies beyond the bound (and the test says slower); it *passes*
when its whole interval lies within the bound; an interval that straddles the bound is *unresolved*.
With a ``primary`` metric (``tweetbench ab`` gates training by default) only that metric is gated; the
others are reported with Holm-adjusted p-values, so that three tests do not triple the false alarms.

The per-step test (``stats.compare_samples`` on the raw per-step samples of all trials pooled,
Mann-Whitney U and a bootstrap interval) is kept as a within-trial detail: steps of one process
share the machine's state, so its p-value says nothing about another run, and it never decides.

Two runs made at different times cannot tell drift of the machine from a change. Their gate exits
``UNDECIDED_EXIT`` (5), never ``REGRESSION_EXIT``, unless the interval lies beyond the bound by more
than the machine's drift (``measured_drift``: the larger of ``SEQUENTIAL_DRIFT`` and what the runs'
own trials show). ``tweetbench ab`` interleaves the trials (ABBA), takes the drift on both sides alike
and compares them pair by pair (``design="paired"``).

Comparing results of different workload fingerprints is refused unless explicitly allowed:
their ratio would measure different work, not different speed. The closed and open divisions of
one workload (fingerprints that differ only by ``+open``) are compared with ``across_divisions``,
and noted: the same work, computed another way. ``--fail-on-regression`` turns an interval wholly
beyond a bound into ``REGRESSION_EXIT``, and a gate that cannot decide (unresolved, cannot show,
within the drift of sequential runs) into ``UNDECIDED_EXIT``, so that a CI job can choose.

``compare_records`` is pure; ``load_side`` is the only part that reads files.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tweetbench.analysis import replication
from tweetbench.analysis.replication import Design, TrialTest, TrialVerdict
from tweetbench.analysis.stats import Comparison, compare_samples, holm
from tweetbench.config import OPEN_SUFFIX
from tweetbench.errors import ResultsError, UsageError
from tweetbench.records import lookup, read_result
from tweetbench.records.run import load_run

Record = Mapping[str, Any]
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
JUDGED_STATISTIC = "per_trial_median_step"


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
    """One device and metric: medians over trials, the trial-level test, the gate's decision, the per-step detail."""

    device: str
    metric: Metric
    label: str
    a_median: float  # median of A's per-trial figures, in the metric's unit
    b_median: float
    steps: Comparison  # per-step test: a within-trial detail, never the verdict
    trials: TrialTest  # trial-level test: the verdict
    trial_counts: tuple[int, int]
    verdict: TrialVerdict
    note: str
    gate: Gate = ""  # "" when no gate applies to this row (no bound, or a secondary metric)
    gate_reason: str = ""
    p_adjusted: float | None = None  # Holm-adjusted over the secondary metrics of the device (primary mode)
    secondary: bool = False  # reported, never gated: a primary metric was named

    @property
    def regression(self) -> bool:
        return self.gate == "regression"

    @property
    def ratio(self) -> float:
        """B/A from the per-trial figures (ratio of their geometric means)."""
        return self.trials.ratio

    @property
    def change(self) -> float:
        """Signed change, positive = better, as the gate measures it:
        ``ratio - 1`` for throughput, ``1 - ratio`` for latency; -0.10 = 10% worse."""
        return (self.ratio - 1.0) if self.metric.higher_is_better else (1.0 - self.ratio)

    @property
    def undecided(self) -> bool:
        return self.gate in UNDECIDED_GATES


@dataclass(frozen=True)
class RunComparison:
    """Everything ``tweetbench compare`` (and ``tweetbench ab``) shows; rendered by ``tweetbench.report.compare``."""

    a: str
    b: str
    rows: tuple[Row, ...]
    notes: tuple[str, ...]
    workloads_differ: bool
    bound: float | None
    method: str
    sequential: bool = False  # A and B are runs made at different times: drift is not separable from a change
    design: Design = "independent"
    primary: str | None = None  # the gated metric's key; None: every metric is gated

    @property
    def regressions(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.regression)

    @property
    def undecided(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.undecided)

    @property
    def exit_code(self) -> int:
        """With a gate (``bound``): ``REGRESSION_EXIT`` when a gated metric's interval lies beyond it, else
        ``UNDECIDED_EXIT`` when a gated verdict could not be decided, else 0. Without a gate, 0."""
        if self.regressions:
            return REGRESSION_EXIT
        return UNDECIDED_EXIT if self.bound is not None and self.undecided else 0


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what the user named and the device results it holds."""

    label: str
    records: tuple[dict[str, Any], ...]
    single_file: bool


# --------------------------------------------------------------------------- inputs


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


def _division(record: Record) -> str:
    return "open" if _fingerprint(record).endswith(OPEN_SUFFIX) else "closed"


def _across(ra: Record, rb: Record) -> bool:
    """Whether A and B are the two divisions of one workload: their fingerprints differ only by ``+open``."""
    fa, fb = _fingerprint(ra), _fingerprint(rb)
    return fa != fb and fa.removesuffix(OPEN_SUFFIX) == fb.removesuffix(OPEN_SUFFIX)


def _across_notes(pairs: Sequence[tuple[str, Record, Record]]) -> list[str]:
    """One note per direction (A closed and B open, or the reverse), naming its devices."""
    devices: dict[str, list[str]] = {}
    for device, ra, rb in pairs:
        devices.setdefault(f"A is {_division(ra)}, B is {_division(rb)}", []).append(device)
    return [f"across divisions: {sides} (same workload, different implementation): {', '.join(names)}"
            for sides, names in devices.items()]


def check_workloads(pairs: Sequence[tuple[str, Record, Record]], allow: bool,
                    across_divisions: bool = False) -> list[str]:
    """Refuse (``ResultsError``) pairs measured on different workload fingerprints unless ``allow``;
    with ``allow``, return one warning per such pair. With ``across_divisions``, a pair whose fingerprints
    differ only by the ``+open`` suffix (the closed and open divisions of one workload) is compared, with a note."""
    split = [(device, ra, rb) for device, ra, rb in pairs if _fingerprint(ra) != _fingerprint(rb)]
    across = [pair for pair in split if _across(pair[1], pair[2])]
    if across_divisions:
        split = [pair for pair in split if pair not in across]
    differ = [f"{device}: A ran {_workload(ra)}, B ran {_workload(rb)}" for device, ra, rb in split]
    hint = (" (or, where only the division differs, pass --across-divisions to compare the closed and open "
            "divisions of one workload)") if across and not across_divisions else ""
    if split and not allow and len(split) == len(across):
        sides = "; ".join(f"{device}: A is {_division(ra)}, B is {_division(rb)}" for device, ra, rb in across)
        raise ResultsError(f"A and B measured different divisions of one workload ({sides}): the open division may "
                           "compute each step differently; pass --across-divisions to compare the closed and open "
                           "divisions of one workload")
    if split and not allow:
        raise ResultsError(f"A and B measured different workloads ({'; '.join(differ)}): their ratio would compare "
                           f"different work, not different speed. Pass --allow-different-workloads to compare "
                           f"anyway{hint}")
    notes = [f"different workloads: {line}" for line in differ]
    return notes + (_across_notes(across) if across_divisions else [])


def trial_figures(record: Record, metric: Metric) -> list[float] | None:
    """One figure per ok trial, in trial order and the metric's shown unit (the per-trial median of its
    per-step time, turned into samples/s or ms); a record without trials is one trial, its own median.
    None if the record has neither."""
    per_trial = lookup(record, "trials", "per_trial") or []
    values = [t.get(metric.trial_key) for t in per_trial if t.get("status") == "ok"]
    if values and all(isinstance(v, int | float) and v > 0 for v in values):
        return metric.transform_ms(record, values)
    raw = lookup(record, "metrics", *metric.raw_path)
    return [statistics.median(metric.transform(record, raw))] if raw else None


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


def compare_metric(device: str, metric: Metric, ra: Record, rb: Record, bound: float | None,
                   design: Design = "independent", drift: float | None = None) -> Row | None:
    """One row, or None if a side lacks the metric's raw samples. ``paired``: trial k of A and of B ran
    side by side (``tweetbench ab``); only complete pairs are compared. ``drift``: the runs were made at
    different times, and this is the floor of their drift allowance (``measured_drift``)."""
    raw_a, raw_b = lookup(ra, "metrics", *metric.raw_path), lookup(rb, "metrics", *metric.raw_path)
    fa, fb = trial_figures(ra, metric), trial_figures(rb, metric)
    if not raw_a or not raw_b or not fa or not fb:
        return None
    steps = compare_samples(metric.transform(ra, raw_a), metric.transform(rb, raw_b),
                            higher_is_better=metric.higher_is_better)
    if design == "paired":
        fa, fb = fa[:len(fb)], fb[:len(fa)]
    trials = replication.compare_trials(fa, fb, higher_is_better=metric.higher_is_better, design=design,
                                        target=bound or None)
    row = Row(device, metric, metric.label_for(rb), statistics.median(fa), statistics.median(fb), steps, trials,
              (len(fa), len(fb)), trials.verdict, trials.reason)
    if bound is None:
        return row
    allowance, how = measured_drift(fa, fb, drift) if drift is not None else (0.0, "")
    status, reason = gate(trials, metric, bound, allowance)
    if how and status in ("drift", "regression"):
        reason = f"{reason} ({how})"
    return dataclasses.replace(row, gate=status, gate_reason=reason)


def method_text(bound: float | None, design: Design = "independent", primary: str | None = None) -> str:
    text = (f"{replication.method_text(design)} Training is judged by each trial's median step "
            f"({JUDGED_STATISTIC}, shown as batch / median step); the record's headline names its own statistic "
            "(metrics.training.headline_statistic: the window's throughput, which stalls lower). Per-step detail "
            "(never the verdict): ratio of the medians of the raw per-step samples, all trials pooled, with a "
            "bootstrap interval and the two-sided Mann-Whitney p that treat steps as independent: the steps of "
            "one process are correlated and share its machine state, so neither has its nominal coverage or "
            "says anything about another run.")
    if primary is not None:
        text += (f" One primary metric ({primary}) is gated; the others' p-values are Holm-adjusted among "
                 "themselves and they decide nothing.")
    if bound is not None:
        text += (f" Regression gate: exit {REGRESSION_EXIT} when a gated metric's whole interval lies beyond "
                 f"{bound:.1%} slower; exit {UNDECIDED_EXIT} when an interval straddles the bound, a side cannot "
                 f"show a difference, or sequential runs lie beyond it by less than their drift allowance.")
    return text


def sequential_note(pairs: Sequence[tuple[str, Record, Record]]) -> str | None:
    """The note for two runs made at different times (their run ids differ), or None."""
    runs = sorted({(str(ra.get("run_id")), str(rb.get("run_id"))) for _, ra, rb in pairs
                   if ra.get("run_id") != rb.get("run_id")})
    if not runs:
        return None
    run_a, run_b = runs[0]
    return (f"A (run {run_a}) and B (run {run_b}) ran at different times: drift of the machine between them cannot "
            "be told apart from a change, so a gate exits 5, not 1, unless the interval lies beyond the bound by "
            "more than the drift. For a verdict drift cannot fake, run both sides in one interleaved "
            "invocation: tweetbench ab --devices DEVICE --a \"OPTIONS\" --b \"OPTIONS\"")


def with_holm(rows: Sequence[Row], primary: str) -> list[Row]:
    """The rows of one device with the secondary metrics marked, their p Holm-adjusted among themselves, and
    their verdict a difference only where the adjusted p is below 0.05."""
    secondary = [i for i, row in enumerate(rows) if row.metric.key != primary and row.trials.p_value is not None]
    p_values = [float(rows[i].trials.p_value or 1.0) for i in secondary]
    adjusted = dict(zip(secondary, holm(p_values), strict=True))
    out = []
    for i, row in enumerate(rows):
        if row.metric.key == primary:
            out.append(row)
            continue
        p = adjusted.get(i)
        verdict = row.verdict
        if p is not None and p >= 0.05 and verdict in ("faster", "slower"):
            verdict = "no significant difference"
        out.append(dataclasses.replace(row, p_adjusted=p, secondary=True, verdict=verdict, gate="",
                                       gate_reason=""))
    return out


@dataclass(frozen=True)
class GateOptions:
    """How rows are gated: the bound (None: no gate), the primary metric (None: every metric), the design,
    and the drift floor of runs made at different times (None: they were not)."""

    bound: float | None = None
    primary: str | None = None
    design: Design = "independent"
    drift: float | None = None


def _device_rows(device: str, ra: Record, rb: Record, options: GateOptions, notes: list[str]) -> list[Row]:
    """The rows of one device pair; what cannot be compared goes to ``notes``."""
    not_ok = [f"{side} is {r['status']} ({r['reason']})" for side, r in (("A", ra), ("B", rb)) if r["status"] != "ok"]
    if not_ok:
        notes.append(f"{device}: not compared: {'; '.join(not_ok)}")
        return []
    for side, r in (("A", ra), ("B", rb)):
        if r.get("noisy"):
            notes.append(f"{device}: {side} is noisy ({'; '.join(r.get('noise_reasons') or [])}): the intervals "
                         "are wide accordingly; the smallest detectable change below says what it can still show")
    rows = []
    for metric in METRICS:
        gated = options.primary is None or metric.key == options.primary
        row = compare_metric(device, metric, ra, rb, options.bound if gated else None, options.design,
                             options.drift)
        if row is None:
            notes.append(f"{device}: {metric.label_for(rb)} not compared: a side has no raw samples")
        else:
            rows.append(row)
    return with_holm(rows, options.primary) if options.primary is not None else rows


def check_primary(primary: str | None) -> None:
    """Refuse (``UsageError``) a primary metric that is not one of ``METRICS``."""
    keys = [m.key for m in METRICS]
    if primary is not None and primary not in keys:
        raise UsageError(f"--metric must be one of {', '.join(keys)}, got {primary!r}")


def compare_records(a: Side, b: Side, *, allow_different_workloads: bool = False, bound: float | None = None,
                    design: Design = "independent", across_divisions: bool = False, primary: str | None = None,
                    drift: float = SEQUENTIAL_DRIFT) -> RunComparison:
    """Compare every device that ran ok on both sides, metric by metric (``design``: see ``compare_metric``;
    ``across_divisions``: see ``check_workloads``; ``primary``: the one metric gated, the others Holm-adjusted;
    ``drift``: the drift floor of runs made at different times, see ``measured_drift``)."""
    if bound is not None and not (math.isfinite(bound) and bound >= 0):
        raise UsageError(f"the regression bound must be zero or more, got {bound}")
    check_primary(primary)
    pairs, notes = _pairs(a, b)
    notes += check_workloads(pairs, allow_different_workloads, across_divisions)
    sequential = sequential_note(pairs)
    if sequential is not None:
        notes.insert(0, sequential)
    options = GateOptions(bound, primary, design, drift if sequential is not None else None)
    rows: list[Row] = []
    for device, ra, rb in pairs:
        rows += _device_rows(device, ra, rb, options, notes)
    if not rows:
        raise ResultsError("nothing to compare: no device ran ok in both A and B"
                           + (f" ({'; '.join(notes)})" if notes else ""))
    return RunComparison(a.label, b.label, tuple(rows), tuple(notes),
                         any(n.startswith("different workloads") for n in notes), bound,
                         method_text(bound, design, primary), sequential is not None, design, primary)
