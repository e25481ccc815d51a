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

The per-step test (``ratios.compare_samples`` on the raw per-step samples of all trials pooled,
Mann-Whitney U and a bootstrap interval) is kept as a within-trial detail: steps of one process
share the machine's state, so its p-value says nothing about another run, and it never decides.

Two runs made at different times cannot tell drift of the machine from a change. Their gate exits
``UNDECIDED_EXIT`` (5), never ``REGRESSION_EXIT``, unless the interval lies beyond the bound by more
than the machine's drift (``gate.measured_drift``: the larger of ``SEQUENTIAL_DRIFT`` and what the runs'
own trials show). ``tweetbench ab`` interleaves the trials (ABBA), takes the drift on both sides alike
and compares them pair by pair (``design="paired"``).

Comparing results of different workload fingerprints is refused unless explicitly allowed:
their ratio would measure different work, not different speed. The closed and open divisions of
one workload (fingerprints that differ only by ``+open``) are compared with ``across_divisions``,
and noted: the same work, computed another way. ``--fail-on-regression`` turns an interval wholly
beyond a bound into ``REGRESSION_EXIT``, and a gate that cannot decide (unresolved, cannot show,
within the drift of sequential runs) into ``UNDECIDED_EXIT``, so that a CI job can choose.

``compare_records`` is pure; ``load_side`` is the only part that reads files. The compared metrics are in
``figures``, the gate and its drift allowance in ``gate``, the check that A and B measured the same work in
``workloads``.
"""

from __future__ import annotations


import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweetbench.analysis import replication
from tweetbench.analysis.figures import JUDGED_STATISTIC, METRICS, Metric, Record, trial_figures
from tweetbench.analysis.gate import (
    REGRESSION_EXIT,
    SEQUENTIAL_DRIFT,
    UNDECIDED_EXIT,
    UNDECIDED_GATES,
    Gate,
    GateOptions,
    gate,
    measured_drift,
)
from tweetbench.analysis.power import holm
from tweetbench.analysis.ratios import Comparison, compare_samples
from tweetbench.analysis.replication import Design, TrialTest, TrialVerdict
from tweetbench.analysis.workloads import check_workloads
from tweetbench.errors import ResultsError, UsageError
from tweetbench.records import (
    K_DEVICE,
    K_METRICS,
    K_NOISE_REASONS,
    K_NOISY,
    K_REASON,
    K_RUN_ID,
    K_SCENARIO,
    K_STATUS,
    lookup,
    read_result,
)
from tweetbench.records.run import load_run


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
        name_a, name_b = ra[K_DEVICE]["name"], rb[K_DEVICE]["name"]
        return [(name_a if name_a == name_b else f"{name_a} → {name_b}", ra, rb)], []
    by_name_b = {r[K_DEVICE]["name"]: r for r in b.records}
    names_a = [r[K_DEVICE]["name"] for r in a.records]
    pairs = [(r[K_DEVICE]["name"], r, by_name_b[r[K_DEVICE]["name"]]) for r in a.records
             if r[K_DEVICE]["name"] in by_name_b]
    notes = [f"{name}: only in A" for name in names_a if name not in by_name_b]
    notes += [f"{name}: only in B" for name in by_name_b if name not in names_a]
    return pairs, notes


def compare_metric(device: str, metric: Metric, ra: Record, rb: Record, bound: float | None,
                   design: Design = "independent", drift: float | None = None) -> Row | None:
    """One row, or None if a side lacks the metric's raw samples. ``paired``: trial k of A and of B ran
    side by side (``tweetbench ab``); only complete pairs are compared. ``drift``: the runs were made at
    different times, and this is the floor of their drift allowance (``measured_drift``)."""
    raw_a, raw_b = lookup(ra, K_METRICS, *metric.raw_path), lookup(rb, K_METRICS, *metric.raw_path)
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
    runs = sorted({(str(ra.get(K_RUN_ID)), str(rb.get(K_RUN_ID))) for _, ra, rb in pairs
                   if ra.get(K_RUN_ID) != rb.get(K_RUN_ID)})
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


def _device_rows(device: str, ra: Record, rb: Record, options: GateOptions, notes: list[str]) -> list[Row]:
    """The rows of one device pair; what cannot be compared goes to ``notes``."""
    not_ok = [f"{side} is {r[K_STATUS]} ({r[K_REASON]})" for side, r in (("A", ra), ("B", rb)) if r[K_STATUS] != "ok"]
    if not_ok:
        notes.append(f"{device}: not compared: {'; '.join(not_ok)}")
        return []
    for side, r in (("A", ra), ("B", rb)):
        if r.get(K_NOISY):
            notes.append(f"{device}: {side} is noisy ({'; '.join(r.get(K_NOISE_REASONS) or [])}): the intervals "
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


def check_scenarios(a: Side, b: Side) -> None:
    """Refuse (``UsageError``) serve runs: their figures are LoadGen's, one run of each scenario, with no raw
    samples to put an interval on, so there is no verdict to give; ``merge`` shows them side by side."""
    for side, name in ((a, "A"), (b, "B")):
        if any(r.get(K_SCENARIO) == "serve" for r in side.records):
            raise UsageError(f"{name} ({side.label}) is a serve run: compare judges the benchmark scenario's timed "
                             "figures, and a serve run's are LoadGen's, one run each, with no samples for an "
                             "interval; put serve runs side by side with: tweetbench merge A B --label A=a --label "
                             "B=b --out DIR")


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
    check_scenarios(a, b)
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
