"""Data-parallel arithmetic: from each rank's raw step and communication times to global throughput,
stragglers, communication share, one merged profile, and scaling efficiency against one device.

Everything here is pure (samples and records in, plain dicts out) except ``load_reference``, the
thin reader of ``--scaling-reference``. Definitions, as the report states them:

* Global samples/s: ``world_size x per-device batch x measured steps`` over the measured time of
  the slowest rank. Ranks step in lock-step (the gradient all-reduce waits for all of them), so
  the job is as fast as its slowest rank.
* Straggler spread: ``(slowest - fastest) / fastest`` over the ranks' median step, and the same
  over their median *compute* time (step minus communication). In lock-step every rank's step
  time converges on the slowest rank's, because the fast ones wait inside the all-reduce; the
  compute spread is where a straggler shows.
* Communication share: the part of the step during which at least one gradient all-reduce was in
  flight, averaged over ranks. It includes the time a fast rank waits for a slow one, and on a
  GPU the part that overlaps the backward pass, so it is an upper bound on what communication
  costs.
* Scaling efficiency: ``global samples/s / (world_size x single-device samples/s)``, against a
  single-device run of the same workload (same fingerprint, same device kind). Weak scaling: the
  per-device batch stays fixed. 1.0 is perfect; it is not computed, and says why, when the runs
  are not comparable.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tweetbench.analysis.breakdown import PARTS, VERDICT_WORDS
from tweetbench.analysis.summary import step_summary
from tweetbench.errors import ResultsError
from tweetbench.records import (
    K_DEVICE,
    K_DISTRIBUTED,
    K_METRICS,
    K_NOISY,
    K_REASON,
    K_RUN_ID,
    K_STATUS,
    K_WORKLOAD,
    DeviceResult,
    read_result,
)
from tweetbench.records.run import result_files

PENDING = "not computed yet: no single-device reference was compared"
# The key of ``distributed.scaling`` that describes the single-device run it is measured against. Records
# written before tweetbench said "reference" throughout call it "baseline": ``scaling_reference`` reads both.
SCALING_REFERENCE = "reference"
OLD_SCALING_REFERENCE = "baseline"


def _check_ranks(rank_values: Sequence[Sequence[float]], what: str) -> int:
    if not rank_values:
        raise ValueError(f"{what}: no ranks")
    lengths = {len(values) for values in rank_values}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"{what}: every rank needs the same, non-zero number of steps, got {sorted(lengths)}")
    return lengths.pop()


def global_samples_per_s(per_device_batch: int, rank_step_s: Sequence[Sequence[float]]) -> float:
    """Samples per second of the whole job: all ranks' samples over the slowest rank's measured time."""
    steps = _check_ranks(rank_step_s, "step times")
    slowest = max(sum(values) for values in rank_step_s)
    if slowest <= 0:
        raise ValueError("step times add up to zero")
    return len(rank_step_s) * per_device_batch * steps / slowest


def slowest_rank_steps(rank_step_s: Sequence[Sequence[float]]) -> list[float]:
    """Per step, the slowest rank's time: the job's step time."""
    _check_ranks(rank_step_s, "step times")
    return [max(column) for column in zip(*rank_step_s)]


def compute_seconds(step_s: Sequence[float], comm_s: Sequence[float]) -> list[float]:
    """Each step's time outside communication (never below zero)."""
    if len(step_s) != len(comm_s):
        raise ValueError(f"{len(step_s)} step times but {len(comm_s)} communication times")
    return [max(step - comm, 0.0) for step, comm in zip(step_s, comm_s)]


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Which rank is slowest and fastest by ``values`` (one per rank), and ``(slowest - fastest) / fastest``."""
    if not values:
        raise ValueError("spread of no ranks")
    slowest = max(range(len(values)), key=lambda rank: values[rank])
    fastest = min(range(len(values)), key=lambda rank: values[rank])
    low = values[fastest]
    return {
        "slowest_rank": slowest,
        "fastest_rank": fastest,
        "slowest_ms": values[slowest] * 1e3,
        "fastest_ms": low * 1e3,
        "spread": (values[slowest] - low) / low if low > 0 else None,
    }


def union_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals: time with at least one interval open."""
    total, end_so_far = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= end_so_far:
            continue
        total += end - max(start, end_so_far)
        end_so_far = end
    return total


def rank_figures(rank: int, per_device_batch: int, step_s: Sequence[float],
                 comm_s: Sequence[float] | None) -> dict[str, Any]:
    """One rank's figures: step percentiles, its own samples/s and, if measured, its communication."""
    figures: dict[str, Any] = {
        "rank": rank,
        "step_ms": step_summary(step_s).to_dict(),
        "samples_per_s": per_device_batch * len(step_s) / sum(step_s),
        "raw_step_s": list(step_s),
    }
    if comm_s is not None:
        compute = compute_seconds(step_s, comm_s)
        figures.update({
            "comm_ms": step_summary(comm_s).to_dict(),
            "compute_ms": step_summary(compute).to_dict(),
            "comm_share": sum(comm_s) / sum(step_s),
            "raw_comm_s": list(comm_s),
        })
    return figures


def stragglers(rank_step_s: Sequence[Sequence[float]],
               rank_comm_s: Sequence[Sequence[float]] | None) -> dict[str, Any]:
    """Slowest against fastest rank, by median step and (where communication was timed) median compute."""
    _check_ranks(rank_step_s, "step times")
    out: dict[str, Any] = {"step": spread([statistics.median(values) for values in rank_step_s]),
                           "compute": None}
    if rank_comm_s is not None:
        out["compute"] = spread([statistics.median(compute_seconds(step, comm))
                                 for step, comm in zip(rank_step_s, rank_comm_s)])
    return out


def communication_share(rank_step_s: Sequence[Sequence[float]], rank_comm_s: Sequence[Sequence[float]]) -> float:
    """The mean, over ranks, of the share of measured step time with an all-reduce in flight."""
    _check_ranks(rank_step_s, "step times")
    shares = [sum(comm) / sum(step) for step, comm in zip(rank_step_s, rank_comm_s)]
    return statistics.fmean(shares)


# --------------------------------------------------------------------------- per-rank profiles


def merge_breakdowns(breakdowns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One breakdown from each rank's: every part's mean ms per step over the ranks, shares of their sum.

    The result has the shape of one rank's breakdown (``parts``, ``parts_step_ms``, ``bottleneck``,
    ``verdict``), plus ``ranks``, the number merged.
    """
    if not breakdowns:
        raise ValueError("no breakdowns to merge")
    ms = {name: statistics.fmean(b["parts"][name]["ms_per_step"] for b in breakdowns) for name in PARTS}
    total = sum(ms.values())
    parts = {name: {"ms_per_step": value, "share": value / total if total > 0 else 0.0} for name, value in ms.items()}
    bottleneck = max(PARTS, key=lambda name: parts[name]["share"])
    return {
        "parts": parts,
        "parts_step_ms": total,
        "clock_step_ms": statistics.fmean(b.get("clock_step_ms", b["parts_step_ms"]) for b in breakdowns),
        "bottleneck": bottleneck,
        "verdict": f"{VERDICT_WORDS[bottleneck]}: {parts[bottleneck]['share'] * 100:.0f}% of each step "
                   f"(mean of {len(breakdowns)} ranks)",
        "ranks": len(breakdowns),
    }


# --------------------------------------------------------------------------- scaling efficiency


def scaling_efficiency(global_sps: float, world_size: int, single_sps: float) -> float:
    """``global_sps / (world_size x single_sps)``: 1.0 when N devices do N times the work of one."""
    if world_size < 1 or single_sps <= 0 or global_sps <= 0:
        raise ValueError(f"efficiency needs positive figures, got {global_sps}, {world_size}, {single_sps}")
    return global_sps / (world_size * single_sps)


def _not_computed(reason: str, reference: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"efficiency": None, "speedup": None, "reason": reason, SCALING_REFERENCE: reference}


def _reference_info(reference: Mapping[str, Any], source: str) -> dict[str, Any]:
    return {
        "run_id": reference[K_RUN_ID],
        "device": reference[K_DEVICE]["name"],
        "status": reference[K_STATUS],
        "fingerprint": reference[K_WORKLOAD].get("fingerprint"),
        "samples_per_s": ((reference.get(K_METRICS) or {}).get("training") or {}).get("samples_per_s"),
        "source": source,
    }


def compare_to_reference(record: Mapping[str, Any], reference: Mapping[str, Any] | None,
                        source: str) -> dict[str, Any]:
    """The ``scaling`` part of a data-parallel record: its efficiency against the scaling ``reference``, or why not.

    ``source`` says where the scaling reference came from (``this run`` or the path given), for the report.
    """
    if reference is None:
        return _not_computed(f"no single-device reference ({source})")
    info = _reference_info(reference, source)
    mine = record[K_DEVICE]["kind"]
    if reference.get(K_DISTRIBUTED):
        return _not_computed(f"the reference {info['device']} is itself a data-parallel run", info)
    if reference[K_DEVICE]["kind"] != mine:
        return _not_computed(f"the reference ran on {reference[K_DEVICE]['kind']}, this run on {mine}", info)
    if reference[K_STATUS] != "ok":
        why = f": {reference[K_REASON]}" if reference.get(K_REASON) else ""
        return _not_computed(f"the single-device reference is {reference[K_STATUS]}{why}", info)
    if record[K_STATUS] != "ok":
        return _not_computed(f"this run is {record[K_STATUS]}", info)
    theirs, ours = info["fingerprint"], record[K_WORKLOAD].get("fingerprint")
    if not theirs or theirs != ours:
        return _not_computed(f"workload fingerprints differ ({str(ours)[:19]}… here, {str(theirs)[:19]}… in the "
                             "reference): the runs did not measure the same work", info)
    single = info["samples_per_s"]
    global_sps = record[K_METRICS]["training"]["samples_per_s"]
    world = int(record[K_DISTRIBUTED]["world_size"])
    return {
        "efficiency": scaling_efficiency(global_sps, world, single),
        "speedup": global_sps / single,
        "reason": "",
        SCALING_REFERENCE: info,
        # Either side flagged noisy (tweetbench.analysis.trials) makes the ratio of the two noisy too.
        "noisy": bool(record.get(K_NOISY) or reference.get(K_NOISY)),
    }


def with_scaling(result: DeviceResult, reference: DeviceResult | None, source: str) -> DeviceResult:
    """A copy of a data-parallel ``result`` whose ``distributed.scaling`` is compared to the scaling ``reference``."""
    data = result.to_dict()
    data[K_DISTRIBUTED]["scaling"] = compare_to_reference(data, None if reference is None else reference.to_dict(),
                                                         source)
    return DeviceResult(data)


def scaling_reference(scaling: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The single-device run that a ``distributed.scaling`` section is measured against, in a new or an old record."""
    return scaling.get(SCALING_REFERENCE, scaling.get(OLD_SCALING_REFERENCE))


def pick_reference(results: Sequence[DeviceResult], kind: str) -> DeviceResult | None:
    """The single-device (not data-parallel) result of device kind ``kind`` among ``results``, ok ones first."""
    candidates = [r for r in results if r.data[K_DEVICE]["kind"] == kind and not r.data.get(K_DISTRIBUTED)]
    candidates.sort(key=lambda r: r.status != "ok")
    return candidates[0] if candidates else None


def load_reference(path: Path, kind: str | None = None) -> DeviceResult:
    """The single-device result that ``--scaling-reference PATH`` names: a result JSON, or a run
    directory holding one (of device kind ``kind``, when given). ``ResultsError`` if there is none."""
    if path.is_dir():
        files = result_files(path)
        if not files:
            raise ResultsError(f"--scaling-reference {path}: no result files in it (give a run directory or a "
                               "result JSON)")
        results = [read_result(p) for p in files]
        wanted = [r for r in results if kind is None or r.data[K_DEVICE]["kind"] == kind]
        found = pick_reference(wanted, kind) if kind else next(
            (r for r in wanted if not r.data.get(K_DISTRIBUTED)), None)
        if found is None:
            raise ResultsError(f"--scaling-reference {path}: no single-device{' ' + kind if kind else ''} result "
                               "in it")
        return found
    result = read_result(path)
    if result.data.get(K_DISTRIBUTED):
        raise ResultsError(f"--scaling-reference {path} is a data-parallel result: give a single-device one")
    return result


def given_reference(path: Path, kind: str) -> tuple[DeviceResult | None, str]:
    """The scaling reference that ``--scaling-reference PATH`` names, and its source for the record. It was checked
    before the run; a file gone or changed since gives None, with the reason in the source."""
    try:
        return load_reference(path, kind), str(path)
    except ResultsError as exc:
        return None, f"{path}: {exc.message}"


def parallel_section(strategy: str, world_size: int, num_nodes: int, devices_per_node: int, per_device_batch: int,
                     reason: str) -> dict[str, Any]:
    """The ``distributed`` section of a data-parallel result that measured nothing (failed, unavailable)."""
    return {
        "strategy": strategy,
        "world_size": world_size,
        "num_nodes": num_nodes,
        "devices_per_node": devices_per_node,
        "per_device_batch": per_device_batch,
        "global_batch": per_device_batch * world_size,
        "scaling": {"efficiency": None, "speedup": None, "reason": reason, SCALING_REFERENCE: None},
    }


def finish_result(result: DeviceResult, section: dict[str, Any], reference: DeviceResult | None,
                  source: str) -> DeviceResult:
    """A data-parallel result made complete: its ``distributed`` section (``section``, a minimal one, if
    the run measured nothing) with the scaling efficiency against the scaling ``reference`` filled in."""
    data = result.to_dict()
    if not data.get(K_DISTRIBUTED):
        data[K_DISTRIBUTED] = {**section, "scaling": {**section["scaling"], "reason": f"this run is {data['status']}"}}
    return with_scaling(DeviceResult(data), reference, source)
