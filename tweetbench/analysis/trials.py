"""Repeated trials of one device folded into one result: headline medians with intervals, and noise.

``tweetbench run --repeats N`` runs each device N times, each trial in a fresh worker process.
``aggregate`` turns those N trial records into the device's result:

* **Headline figures** are medians over the trials (training samples/s, median step time,
  batch-1 latency, batch-N samples/s), each with an interval from ``intervals.median_with_ci``
  and the method and coverage that interval really has (see ``headline_interval``).
* **Pooled distributions**: the raw per-step samples of all trials are concatenated, in trial
  order, and the step/latency/batch summaries are built from them (``summary.step_summary``). Everything else in
  ``metrics`` (losses, warm-up, overhead, memory, counters) and the environment come from the
  *representative* trial, the one whose training samples/s is the median (the lower middle
  for an even count); the profile breakdown comes from the first trial that has one.
* **Per-trial figures** (throughput, median step with its within-trial batch-means interval, CV and
  the robust MAD/median spread, warm-up steps used, noise state) go under ``trials.per_trial``; the
  trial records themselves are kept as files.
* **Noise** (``noise.noise_verdict``): the spread *between* trials of the per-trial median step (what
  ``compare`` judges), and each trial's robust spread of its steps (MAD over median, which a few
  stalls cannot move, where they inflate a CV). The thresholds and their reasons are
  ``noise.NOISY_BETWEEN`` and ``noise.NOISY_MAD``; what was measured goes to ``trials.noise``, with the
  smallest change two such runs could show (``power.detectable_text``).
* **Overhead**: the interleaved rounds of every trial are pooled, and the ratio and its interval are
  recomputed over all of them (``overhead.overhead_summary``), so the interval carries the variation
  across trials, not only the representative trial's.

A single trial is passed through untouched: its figures are already the device's (no summary is rebuilt
over the same samples); only the ``trials`` section and the noise flag are added.

Everything here is pure: records in, a record out.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tweetbench.analysis.overhead import overhead_summary
from tweetbench.analysis.intervals import batch_median_interval, median_with_ci
from tweetbench.analysis.noise import NOISE_RULE, NOISY_BETWEEN, NOISY_MAD, robust_spread
from tweetbench.analysis.noise import noise_verdict as spread_verdict
from tweetbench.analysis.power import detectable_text
from tweetbench.analysis.summary import step_summary
from tweetbench.records import (
    K_BREAKDOWN,
    K_DEVICE,
    K_ENVIRONMENT,
    K_METRICS,
    K_NOISE_REASONS,
    K_NOISY,
    K_REASON,
    K_STATUS,
    K_TRIAL,
    K_TRIALS,
    DeviceResult,
    lookup,
)

AGGREGATION = ("headline = median over trials; per-step distributions and the overhead's interleaved rounds "
               "pooled over trials; other metrics from the representative (median-throughput) trial")


@dataclass(frozen=True)
class Headline:
    """One headline figure: the median over trials and its interval.

    ``low``/``high`` are None for a single trial. ``coverage`` is the probability that the
    interval holds the true median of the trial-to-trial distribution (for any continuous
    distribution); below the nominal 95% when there are too few trials to reach it.
    """

    estimate: float
    low: float | None
    high: float | None
    n: int
    coverage: float | None
    method: str
    unit: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def min_max_coverage(n: int) -> float:
    """Coverage of ``[min, max]`` of n values as an interval for their median: ``1 - 2**(1-n)``."""
    return 1.0 - 2.0 ** (1 - n)


def headline_interval(values: Sequence[float], unit: str) -> Headline:
    """The median of per-trial values with the interval ``intervals.median_with_ci`` gives.

    With 2 to 5 trials no distribution-free interval reaches 95%: the bootstrap then returns
    the trials' ``[min, max]``, and the coverage is stated as what it is (75% for 3 trials).
    """
    n = len(values)
    if n == 1:
        return Headline(float(values[0]), None, None, 1, None, "single trial: no interval (use --repeats >= 2)",
                        unit)
    interval = median_with_ci(values)
    if interval.method.startswith("bootstrap"):
        coverage = min_max_coverage(n)
        method = (f"{interval.method} = [min, max] of {n} trials; covers the median with probability "
                  f"{coverage:.1%}, not 95% (95% needs >= 6 trials)")
    else:
        coverage, method = _stated_coverage(interval.method), interval.method
    return Headline(interval.estimate, interval.low, interval.high, n, coverage, method, unit)


def _stated_coverage(method: str) -> float | None:
    """The coverage ``median_with_ci`` states at the end of an order-statistic method, e.g. '..., coverage 96.9%'."""
    try:
        return float(method.rsplit("coverage ", 1)[1].rstrip("%")) / 100.0
    except (IndexError, ValueError):
        return None


# Headline figures: (key, path in metrics, unit).
HEADLINES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("train_samples_per_s", ("training", "samples_per_s"), "samples/s"),
    ("train_step_p50_ms", ("training", "step_ms", "p50"), "ms"),
    ("latency_batch1_p50_ms", ("inference", "latency_batch1_ms", "p50"), "ms"),
    ("offline_samples_per_s", ("inference", "offline", "samples_per_s"), "samples/s"),
)


def gpu_clocks(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The GPU's SM clock over the measured training steps (NVML samples) against its maximum, and the
    throttle reasons at the end; None where the device reports no clocks (CPU, XLA, no NVML)."""
    sm = lookup(record, K_METRICS, "device_counters", "nvml", "sm_clock_mhz")
    if not isinstance(sm, Mapping):
        return None
    return {
        "sm_p50_mhz": sm.get("p50"),
        "sm_min_mhz": sm.get("min"),
        "sm_max_allowed_mhz": lookup(record, K_DEVICE, "facts", "max_sm_clock_mhz"),
        "throttle_reasons": lookup(record, K_METRICS, "device_counters", "nvml", "throttle_reasons_end"),
    }


def trial_figures(record: Mapping[str, Any], trial: int, file: str | None) -> dict[str, Any]:
    """One trial's figures for ``trials.per_trial``: its throughput, steps, CV, warm-up and noise state."""
    entry: dict[str, Any] = {"trial": trial, "status": record[K_STATUS], "reason": record[K_REASON], "file": file}
    noise = lookup(record, K_ENVIRONMENT, "noise") or {}
    entry["noise"] = {
        "load_average": noise.get("load_average"),
        "cpu_steal_fraction": noise.get("cpu_steal_fraction"),
        "cpu_governor": noise.get("cpu_governor"),
        "cpu_percent": noise.get("cpu_percent"),
        "torch_threads": lookup(record, K_ENVIRONMENT, "torch_threads"),
        "gpu_clocks": gpu_clocks(record),
    }
    train = lookup(record, K_METRICS, "training")
    if record[K_STATUS] != "ok" or not train:
        return entry
    steps_ms = [s * 1e3 for s in train["raw_step_s"]]
    step_ci = batch_median_interval(steps_ms)  # its interval; the median itself is the summary's p50
    inference = lookup(record, K_METRICS, "inference") or {}
    entry.update({
        "train_samples_per_s": train["samples_per_s"],
        "train_tokens_per_s": train["tokens_per_s"],
        "step_p50_ms": train["step_ms"]["p50"],
        "step_p50_ci_ms": [step_ci.low, step_ci.high],
        "step_p50_ci_method": step_ci.method,
        "step_cv": train["step_ms"]["cv"],
        "step_mad_ratio": robust_spread(steps_ms),
        "warmup_steps": train["warmup_steps"],
        "warmup_capped": bool(train.get("warmup_capped")),
        "measured_steps": train["measured_steps"],
        "latency_batch1_p50_ms": lookup(inference, "latency_batch1_ms", "p50"),
        "offline_samples_per_s": lookup(inference, "offline", "samples_per_s"),
        "offline_batch_p50_ms": lookup(inference, "offline", "batch_ms", "p50"),
        "overhead_ratio": lookup(record, K_METRICS, "overhead", "ratio"),
    })
    return entry


def _representative(records: Sequence[Mapping[str, Any]]) -> int:
    """Index of the trial whose training samples/s is the median (the lower middle for an even count)."""
    order = sorted(range(len(records)), key=lambda i: records[i][K_METRICS]["training"]["samples_per_s"])
    return order[(len(order) - 1) // 2]


def _ms_summary(seconds: Sequence[float]) -> dict[str, Any]:
    return step_summary(seconds).to_dict()


def _pooled(records: Sequence[Mapping[str, Any]], *path: str) -> list[float]:
    return [x for r in records for x in lookup(r[K_METRICS], *path)]


def _median_over_trials(records: Sequence[Mapping[str, Any]], *path: str) -> float:
    # A median over trials (one figure per trial), not over steps: not a step summary.
    return statistics.median(lookup(r[K_METRICS], *path) for r in records)


def pooled_metrics(records: Sequence[Mapping[str, Any]], representative: int) -> dict[str, Any]:
    """The metrics of the representative trial, with headline rates as medians over trials and the
    per-step distributions pooled over all trials."""
    metrics = copy.deepcopy(dict(records[representative][K_METRICS]))
    train = metrics["training"]
    raw_steps = _pooled(records, "training", "raw_step_s")
    train.update({
        "samples_per_s": _median_over_trials(records, "training", "samples_per_s"),
        "tokens_per_s": _median_over_trials(records, "training", "tokens_per_s"),
        "raw_step_s": raw_steps,
        "step_ms": _ms_summary(raw_steps),
        "measured_steps": len(raw_steps),
        "measured_seconds": sum(r[K_METRICS]["training"].get("measured_seconds", 0.0) for r in records),
    })
    if metrics.get("overhead"):
        metrics["overhead"] = pooled_overhead(records, metrics["overhead"])
    inference = metrics.get("inference")
    if inference:
        latency = _pooled(records, "inference", "raw_latency_s")
        batches = _pooled(records, "inference", "offline", "raw_batch_s")
        inference.update({"raw_latency_s": latency, "latency_batch1_ms": _ms_summary(latency)})
        inference["offline"].update({
            "raw_batch_s": batches,
            "batch_ms": _ms_summary(batches),
            "samples_per_s": _median_over_trials(records, "inference", "offline", "samples_per_s"),
        })
    return metrics


def noise_verdict(per_trial: Sequence[Mapping[str, Any]]) -> tuple[bool, list[str], dict[str, Any]]:
    """``noise.noise_verdict`` over the ok trials' median steps (between) and robust step spreads (within),
    with what it measured for ``trials.noise``."""
    ok = [t for t in per_trial if t[K_STATUS] == "ok" and t.get("step_p50_ms")]
    within = [t["step_mad_ratio"] for t in ok if isinstance(t.get("step_mad_ratio"), int | float)]
    found = spread_verdict([t["step_p50_ms"] for t in ok], within, what="median steps")
    section = {"between_trials": found.between, "within_trial": list(found.within),
               "between_limit": NOISY_BETWEEN, "within_limit": NOISY_MAD,
               "between_method": "sd of the log per-trial median steps (per_trial_median_step, what compare judges)",
               "within_method": "normal-scaled MAD of each trial's steps over their median",
               "detectable": detectable_text(found.between, len(ok), "independent")}
    return found.noisy, list(found.reasons), section


def pooled_overhead(records: Sequence[Mapping[str, Any]], overhead: Mapping[str, Any]) -> dict[str, Any]:
    """The representative trial's overhead section with its ratio, interval and verdict recomputed over the
    interleaved rounds of every trial (pooled: each round is one pair, whichever trial ran it)."""
    trials = [lookup(r, K_METRICS, "overhead") or {} for r in records]
    lightning = [block for t in trials for block in t.get("raw_lightning_s") or []]
    bare = [block for t in trials for block in t.get("raw_bare_s") or []]
    if len(trials) < 2 or not lightning or not bare or overhead.get("target") is None:
        return dict(overhead)
    summary = overhead_summary(lightning, bare, float(overhead["target"]))
    pooled = {**overhead, **summary, "meets_target": summary["verdict"] == "meets", "raw_lightning_s": lightning,
              "raw_bare_s": bare, "trial_ratios": [t.get("ratio") for t in trials]}
    pooled["ci_method"] = f"{summary['ci_method']}, the rounds of all {len(trials)} trials pooled"
    return pooled


def aggregate(trials: Sequence[DeviceResult], files: Sequence[str | None], requested: int) -> DeviceResult:
    """Fold the records of one device's trials (trial 1 first) into its result.

    ``files`` are the trial records' paths relative to the run directory. The trials are run
    in order and stop at the first one that is not ``ok``: its status and reason become the
    result's, prefixed with the trial number, and the earlier trials' figures are kept. A single
    ok trial keeps its figures untouched (``trials`` and the noise flag are added).
    """
    if not trials or len(trials) != len(files):
        raise ValueError(f"aggregate needs one file per trial, got {len(trials)} trials and {len(files)} files")
    records = [t.to_dict() for t in trials]
    per_trial = [trial_figures(r, i, f) for i, (r, f) in enumerate(zip(records, files, strict=True), start=1)]
    section: dict[str, Any] = {"requested": requested, "count": len(records), "aggregation": AGGREGATION,
                               "noise_rule": NOISE_RULE, "representative": None, "breakdown_trial": None,
                               "headline": {}, "per_trial": per_trial}
    last = records[-1]
    if last[K_STATUS] != "ok":
        if requested > 1:
            last[K_REASON] = f"trial {len(records)} of {requested}: {last[K_REASON]}"
        last.update({K_TRIAL: 0, K_TRIALS: section})
        return DeviceResult(last)
    if not all(lookup(r, K_METRICS, "training", "raw_step_s") for r in records):
        # A scenario without timed training steps (convergence): nothing to pool or to test for noise.
        section.update({"representative": 1, "aggregation": "trial 1's record: this scenario has no "
                        "per-step training times to pool", "noise_rule": "not assessed: no per-step times"})
        records[0].update({K_TRIAL: 0, K_TRIALS: section, K_NOISY: False, K_NOISE_REASONS: []})
        return DeviceResult(records[0])
    section["headline"] = {  # before the fold, which replaces the representative trial's metrics
        key: headline_interval([lookup(r[K_METRICS], *path) for r in records], unit).to_dict()
        for key, path, unit in HEADLINES
        if all(isinstance(lookup(r[K_METRICS], *path), int | float) for r in records)
    }
    data = _folded(records, section)
    noisy, reasons, section["noise"] = noise_verdict(per_trial)
    data.update({K_TRIAL: 0, K_TRIALS: section, K_NOISY: noisy, K_NOISE_REASONS: reasons})
    return DeviceResult(data)


def _folded(records: list[dict[str, Any]], section: dict[str, Any]) -> dict[str, Any]:
    """The ok trials as one record: a single trial as it is; several as the representative trial's record with
    the pooled metrics and the first breakdown. Notes which trials they came from in ``section``."""
    if len(records) == 1:
        section["representative"] = 1
        section["breakdown_trial"] = 1 if records[0].get(K_BREAKDOWN) else None
        return records[0]
    rep = _representative(records)
    data = records[rep]
    data[K_METRICS] = pooled_metrics(records, rep)
    with_breakdown = next((i for i, r in enumerate(records) if r.get(K_BREAKDOWN)), None)
    data[K_BREAKDOWN] = records[with_breakdown][K_BREAKDOWN] if with_breakdown is not None else None
    section["representative"] = rep + 1
    section["breakdown_trial"] = None if with_breakdown is None else with_breakdown + 1
    return data
