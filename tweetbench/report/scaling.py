"""Pure Markdown for data-parallel runs: the scaling table and each run's per-rank table.

Result records in, text out; the figures come from the records' ``distributed`` sections (see
``tweetbench.analysis.scaling`` for their definitions). Nothing here computes a statistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.analysis.scaling import scaling_reference
from tweetbench.records.keys import K_DEVICE, K_DISTRIBUTED, K_METRICS, K_REASON, K_STATUS, Record
from tweetbench.report.cells import fmt, pct, table_cell

def _short(text: str, limit: int = 140) -> str:
    """A reason fit for a table cell: one line, at most ``limit`` characters (the record keeps it whole)."""
    text = table_cell(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _spread(part: Mapping[str, Any] | None) -> str:
    if not part or part.get("spread") is None:
        return "–"
    return f"{part['spread'] * 100:.1f}% (rank {part['slowest_rank']} vs {part['fastest_rank']})"


def distributed_results(results: Sequence[Record]) -> list[Record]:
    """The data-parallel results among ``results``, in order."""
    return [r for r in results if r.get(K_DISTRIBUTED)]


def _reference_row(info: Mapping[str, Any], batch: int) -> str:
    where = "this run" if info.get("source") == "this run" else f"run `{info.get('run_id')}`"
    return (f"| {info.get('device')} (single device, {where}) | 1 | {batch} | {fmt(info.get('samples_per_s'), 0)} | "
            f"reference | – | – | {info.get('status', '?')} |")


def scaling_table(results: Sequence[Record]) -> str:
    """Devices, global batch, samples/s, scaling efficiency, communication share and straggler spread.

    Each data-parallel run follows the single-device run it is measured against.
    """
    lines = ["| devices | world size | global batch | samples/s | scaling efficiency | communication share | "
             "straggler spread (compute) | status |", "|" + "---|" * 8]
    shown: set[tuple[Any, Any]] = set()
    for r in distributed_results(results):
        d = r[K_DISTRIBUTED]
        scaling = d.get("scaling") or {}
        reference = scaling_reference(scaling)
        if reference and (reference.get("run_id"), reference.get("device")) not in shown:
            shown.add((reference.get("run_id"), reference.get("device")))
            lines.append(_reference_row(reference, d["per_device_batch"]))
        train = (r.get(K_METRICS) or {}).get("training") or {}
        efficiency = scaling.get("efficiency")
        eff_text = f"{efficiency:.2f} ({scaling.get('speedup', 0):.2f}× one device)" if efficiency is not None \
            else f"not computed: {_short(scaling.get('reason') or '?')}"
        if scaling.get("noisy"):
            eff_text += " (noisy: see the runs' step-time spread)"
        comm = d.get("communication") or {}
        nodes = f" ({d['num_nodes']} nodes)" if d.get("num_nodes", 1) > 1 else ""
        status = r[K_STATUS] + (f": {_short(r[K_REASON])}" if r[K_STATUS] != "ok" and r.get(K_REASON) else "")
        lines.append(
            f"| {r[K_DEVICE]['name']} {d['strategy']} | {d['world_size']}{nodes} | {d['global_batch']} | "
            f"{fmt(train.get('samples_per_s'), 0)} | {eff_text} | "
            f"{pct(comm.get('share')) if comm.get('measured') else '–'} | "
            f"{_spread((d.get('straggler') or {}).get('compute'))} | {status} |")
    return "\n".join(lines)


def rank_table(result: Record) -> str:
    """One data-parallel run, rank by rank: step percentiles, compute, communication, memory."""
    lines = ["| rank | node / host | step p50 / p90 / p99 (ms) | compute p50 (ms) | communication share | "
             "samples/s | peak RSS |", "|" + "---|" * 7]
    for rank in result[K_DISTRIBUTED].get("ranks") or []:
        step = rank["step_ms"]
        compute = (rank.get("compute_ms") or {}).get("p50")
        rss = rank.get("peak_rss_bytes")
        lines.append(
            f"| {rank['rank']} | {rank.get('node_rank', '?')} / {rank.get('host', '?')} | "
            f"{step['p50']:.2f} / {step['p90']:.2f} / {step['p99']:.2f} | {fmt(compute, 2)} | "
            f"{pct(rank.get('comm_share'))} | {fmt(rank.get('samples_per_s'), 0)} | "
            f"{'–' if not rss else f'{rss / 2**20:,.0f} MiB'} |")
    return "\n".join(lines)


def _run_notes(r: Record) -> list[str]:
    d = r[K_DISTRIBUTED]
    comm = d.get("communication") or {}
    out = [f"### {r[K_DEVICE]['label']} — `{r[K_DEVICE]['name']}`", "",
           f"{d['world_size']} ranks ({d['devices_per_node']} per node × {d['num_nodes']} node(s)), strategy "
           f"`{d['strategy']}`, launched by {d.get('launcher', '?')}, process group backend "
           f"{d.get('process_group_backend') or '?'}; {d['per_device_batch']} samples per device and step, "
           f"{d['global_batch']} in all (weak scaling)."]
    if not d.get("ranks"):
        return out + [""]
    step = (d.get("straggler") or {}).get("step")
    out += ["", rank_table(r), "",
            f"Straggler spread by median step: {_spread(step)}; by median compute (step minus communication): "
            f"{_spread((d.get('straggler') or {}).get('compute'))}. Ranks step in lock-step, so a straggler shows "
            "in compute time while the others wait inside the all-reduce.",
            "", f"Communication: {comm.get('method', '–')}"]
    if comm.get("measured"):
        out[-1] += (f" {comm.get('buckets_per_step', '?')} bucket(s), {fmt((comm.get('bytes_per_step') or 0) / 2**20, 2)}"
                    f" MiB of gradients per step; {fmt(comm.get('ms_per_step'), 2)} ms per step on average.")
    return out + [""]


def scaling_section(results: Sequence[Record]) -> list[str]:
    """The report's "Scaling" section as lines, or no lines when the run has no data-parallel result."""
    runs = distributed_results(results)
    if not runs:
        return []
    lines = ["## Scaling", "", scaling_table(results), "",
             "Scaling efficiency is global samples/s ÷ (world size × the single-device samples/s) of the same "
             "workload (same fingerprint) with the same per-device batch: 1.00 is perfect weak scaling. "
             "Communication share is the part of each step with a gradient all-reduce in flight.", ""]
    for r in runs:
        lines += _run_notes(r)
    return lines
