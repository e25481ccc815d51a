"""The metrics ``compare`` judges: where each keeps its raw per-step seconds, its per-trial figure and its
summary, and how seconds become the shown unit (samples/s or ms)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tweetbench.records import K_METRICS, K_STATUS, K_TRIALS, Record, lookup

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
    summary_path: tuple[str, ...]  # the step summary (summary.step_summary, in ms) of the same per-step time
    batch_path: tuple[str, ...] | None  # throughput = batch / seconds; None: the time itself, in ms

    def label_for(self, record: Record) -> str:
        batch = lookup(record, K_METRICS, *self.batch_path) if self.batch_path else None
        return self.label.format(batch=batch if batch is not None else "N")

    def transform(self, record: Record, seconds: Sequence[float]) -> list[float]:
        """Per-step seconds to the shown unit: samples/s (batch / seconds) or milliseconds."""
        if self.batch_path is None:
            return [s * 1e3 for s in seconds]
        batch = float(lookup(record, K_METRICS, *self.batch_path))
        return [batch / s for s in seconds]

    def transform_ms(self, record: Record, milliseconds: Sequence[float]) -> list[float]:
        return self.transform(record, [m / 1e3 for m in milliseconds])


METRICS: tuple[Metric, ...] = (
    Metric("train", "training throughput", "samples/s", True, ("training", "raw_step_s"), "step_p50_ms",
           ("training", "step_ms"), ("training", "batch_size")),
    Metric("latency", "batch-1 latency", "ms", False, ("inference", "raw_latency_s"), "latency_batch1_p50_ms",
           ("inference", "latency_batch1_ms"), None),
    Metric("offline", "batch-{batch} throughput", "samples/s", True, ("inference", "offline", "raw_batch_s"),
           "offline_batch_p50_ms", ("inference", "offline", "batch_ms"), ("inference", "offline", "batch_size")),
)


def trial_figures(record: Record, metric: Metric) -> list[float] | None:
    """One figure per ok trial, in trial order and the metric's shown unit (the per-trial median of its
    per-step time, turned into samples/s or ms); a record without trials is one trial, its summary's p50.
    None if the record has neither."""
    per_trial = lookup(record, K_TRIALS, "per_trial") or []
    values = [t.get(metric.trial_key) for t in per_trial if t.get(K_STATUS) == "ok"]
    if values and all(isinstance(v, int | float) and v > 0 for v in values):
        return metric.transform_ms(record, values)
    p50 = lookup(record, K_METRICS, *metric.summary_path, "p50")
    return metric.transform_ms(record, [p50]) if isinstance(p50, int | float) and p50 > 0 else None
