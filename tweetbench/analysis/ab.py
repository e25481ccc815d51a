"""An interleaved A/B run (``tweetbench ab``): its comparison, and its trials in the order they ran.

The trials of the two sides ran in ABBA order on one device, each in a fresh process, so trial k of
A and trial k of B form one pair that shared the machine's state of its moment. The comparison is
``compare.compare_records`` with the paired design (``replication``): the exact test swaps A and B
within each pair, so drift between pairs cannot fake a change. One primary metric (training unless
``--metric`` named another) is gated; the others are reported with Holm-adjusted p-values. The run is
noisy when the pair log ratios of the primary metric spread more than ``noise.NOISY_PAIRS``.
The trials in run order, each with its figures, let a reader see that drift.

Everything here is pure: the run's ``ab`` section and the two sides' records in, the comparison out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tweetbench.analysis.compare import RunComparison, Side, compare_records
from tweetbench.analysis.figures import METRICS
from tweetbench.analysis.noise import NOISY_PAIRS
from tweetbench.errors import ResultsError
from tweetbench.records import K_TRIALS, Record, lookup

SIDES = ("A", "B")
# run.json's ab section: the gated metric (a key of figures.METRICS). Older runs have none: training.
AB_METRIC = "metric"
DEFAULT_METRIC = "train"
# Pairs a side by default. 6 is the fewest whose exact paired test can reach p < 0.05 (2 / 2**6 = 0.031), but
# only when all six pairs agree in sign: one discordant pair, however small, gives p = 0.0625. At 8, one small
# discordant pair still leaves p = 0.016, and at a 5% between-trial spread 8 pairs show a change of ~8.5%
# with 80% power (power.detectable_change).
DEFAULT_PAIRS = 8


def abba_positions(order: Sequence[str]) -> list[tuple[str, int]]:
    """Each position of ``order`` as (side, the side's trial number from 1): A B B A -> A1 B1 B2 A2."""
    seen = {side: 0 for side in SIDES}
    positions = []
    for side in order:
        seen[side] += 1
        positions.append((side, seen[side]))
    return positions


@dataclass(frozen=True)
class OrderedTrial:
    """One trial at its place in the run: which side, its number within the side, and its figures."""

    position: int  # 1-based, in run order
    side: str
    trial: int
    status: str  # "ok", "failed", ... or "not run" (the run stopped before it)
    figures: Mapping[str, float | None]  # metric key (figures.METRICS) -> its per-trial figure, in the shown unit


def _figures(record: Record, entry: Mapping[str, Any]) -> dict[str, float | None]:
    figures: dict[str, float | None] = {}
    for metric in METRICS:
        value = entry.get(metric.trial_key)
        ok = isinstance(value, int | float) and value > 0 and entry.get("status") == "ok"
        figures[metric.key] = metric.transform_ms(record, [value])[0] if ok else None
    return figures


def trials_in_run_order(order: Sequence[str], records: Mapping[str, Record | None]) -> tuple[OrderedTrial, ...]:
    """Every planned trial in run order with its status and figures (from each side's ``trials.per_trial``)."""
    trials = []
    for position, (side, k) in enumerate(abba_positions(order), start=1):
        record = records.get(side)
        per_trial = (lookup(record, K_TRIALS, "per_trial") or []) if record is not None else []
        entry = next((t for t in per_trial if t.get("trial") == k), None)
        if record is None or entry is None:
            trials.append(OrderedTrial(position, side, k, "not run", {m.key: None for m in METRICS}))
        else:
            trials.append(OrderedTrial(position, side, k, str(entry.get("status")), _figures(record, entry)))
    return tuple(trials)


@dataclass(frozen=True)
class ABComparison:
    """What ``tweetbench ab`` shows: the paired comparison (None, with ``problem``, if there is none)
    and the trials in run order."""

    comparison: RunComparison | None
    problem: str
    order: tuple[OrderedTrial, ...]

    @property
    def exit_code(self) -> int:
        """The comparison's gate code (``compare.RunComparison.exit_code``); 1 when nothing could be compared."""
        return 1 if self.comparison is None else self.comparison.exit_code


def side_label(side: str, options: str) -> str:
    """How a side is named in the comparison: ``A (--threads 2)``, or ``A (the common options)``."""
    return f"{side} ({options.strip() or 'the common options'})"


def primary_metric(section: Mapping[str, Any]) -> str:
    """The gated metric of an A/B run (``DEFAULT_METRIC`` for runs that recorded none)."""
    return str(section.get(AB_METRIC) or DEFAULT_METRIC)


def pair_noise(comparison: RunComparison) -> list[str]:
    """A note when the primary metric's pair log ratios spread beyond ``NOISY_PAIRS``, with what it can show."""
    notes = []
    for row in comparison.rows:
        sd = row.trials.sd_log
        if not row.secondary and sd is not None and sd > NOISY_PAIRS:
            notes.append(f"{row.device} {row.label}: noisy: the pair log ratios spread {sd:.1%} (sd) > "
                         f"{NOISY_PAIRS:.1%} (the {NOISY_PAIRS / 2 ** 0.5:.0%} between-trial threshold, times √2 "
                         "for a difference of two trials)")
    return notes


def compare_ab(section: Mapping[str, Any], records: Mapping[str, Record | None],
               bound: float | None = None) -> ABComparison:
    """Compare side B with side A of an interleaved run, pair by pair.

    ``section`` is run.json's ``ab`` section (each side's options, the run order, the primary metric);
    ``records`` each side's aggregated result, None for a side with none. The sides may run different
    workload variants on purpose, so different fingerprints are noted, not refused.
    """
    order = trials_in_run_order(section["order"], records)
    ra, rb = records.get("A"), records.get("B")
    if ra is None or rb is None:
        return ABComparison(None, "a side has no result: the run stopped before its first trial finished", order)
    options = {side: str(section["sides"][side].get("options", "")) for side in SIDES}
    try:
        comparison = compare_records(Side(side_label("A", options["A"]), (dict(ra),), True),
                                     Side(side_label("B", options["B"]), (dict(rb),), True),
                                     allow_different_workloads=True, bound=bound, design="paired",
                                     primary=primary_metric(section))
    except ResultsError as exc:
        return ABComparison(None, exc.message, order)
    noise = pair_noise(comparison)
    if noise:
        comparison = dataclasses.replace(comparison, notes=(*comparison.notes, *noise))
    return ABComparison(comparison, "", order)
