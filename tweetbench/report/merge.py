"""The cross-machine summary of ``tweetbench merge``: pure renderers (summary.md, summary.json, the charts'
rows) over what ``analysis.merge.select`` chose, and the thin writer that puts them under ``--out``.

Everything is rendered in memory first, PNGs included, and only then written, so a merge that fails
leaves ``--out`` as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tweetbench import __version__
from tweetbench.analysis.breakdown import PARTS
from tweetbench.analysis.merge import Merge, Row, Skipped, find_candidates, parse_labels, parse_reference, select
from tweetbench.errors import UsageError
from tweetbench.records import (
    K_BREAKDOWN,
    K_DEVICE,
    K_ENVIRONMENT,
    K_METRICS,
    K_NOISY,
    K_REASON,
    K_RUN_ID,
    K_STATUS,
    K_TIMING,
    K_WORKLOAD,
    REFERENCE_KIND,
    TOOL,
    lookup,
)
from tweetbench.records.files import ensure_writable_dir, write_atomic
from tweetbench.records.merge import MERGE_FORMAT_VERSION, MERGE_KIND, validate_merge_summary
from tweetbench.records.run import RUN_META
from tweetbench.report.cells import fmt, table_cell, table_row
from tweetbench.report.charts import SUMMARY_PREFIX, ChartRow, charts_section, render_charts
from tweetbench.report.serving import MAX_QPS_COLUMN, max_qps_cell, serving_figures
from tweetbench.report.writer import reporting_on

SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
ENVIRONMENT_KEYS = ("cpu_model", "cpu_cores_logical", "torch_threads", "os", "python", "torch", "pytorch_lightning",
                    "cuda", "torch_xla")


def _name(host: str, device: str) -> str:
    return f"{host} · {device}"


# --------------------------------------------------------------------------- summary.json


def _row_record(row: Row) -> dict[str, Any]:
    r, c = row.record, row.candidate
    train = lookup(r, K_METRICS, "training")
    latency = lookup(r, K_METRICS, "inference", "latency_batch1_ms")
    offline = lookup(r, K_METRICS, "inference", "offline")
    breakdown = r.get(K_BREAKDOWN) if isinstance(r.get(K_BREAKDOWN), Mapping) else None
    env = r.get(K_ENVIRONMENT) or {}
    return {
        "host": row.host, "hostname": env.get("hostname"), "device": r[K_DEVICE]["name"],
        "device_kind": r[K_DEVICE]["kind"], "device_label": r[K_DEVICE]["label"], "variant": r[K_WORKLOAD]["name"],
        "fingerprint": r[K_WORKLOAD].get("fingerprint"), "workload_differs": row.workload_differs,
        "status": r[K_STATUS], "reason": r.get(K_REASON) or "", "run_id": r[K_RUN_ID], "run_status": c.run_status,
        "source": c.source, "started_at": lookup(r, K_TIMING, "started_at"), "is_reference": row.is_reference,
        "speedup": row.speedup,
        "training": None if not train else {"samples_per_s": train.get("samples_per_s"),
                                            "step_p50_ms": lookup(train, "step_ms", "p50"),
                                            "batch_size": train.get("batch_size")},
        "latency_batch1_ms": None if not latency else {k: latency.get(k) for k in ("p50", "p90", "p99")},
        "offline": None if not offline else {"batch_size": offline.get("batch_size"),
                                             "samples_per_s": offline.get("samples_per_s")},
        "breakdown": None if not breakdown else {"step_ms": breakdown.get("parts_step_ms"), "verdict": breakdown.get("verdict"),
                                                 "parts": {p: breakdown["parts"][p] for p in PARTS}},
        "environment": {key: env.get(key) for key in ENVIRONMENT_KEYS},
        "serving": serving_figures(r),
    }


def _skipped_record(skipped: Skipped) -> dict[str, Any]:
    host, device, variant = skipped.candidate.key
    return {"host": host, "device": device, "variant": variant, "run_id": skipped.candidate.record[K_RUN_ID],
            "source": skipped.candidate.source, "why": skipped.why}


def summary_record(merge: Merge, inputs: Sequence[str]) -> dict[str, Any]:
    """``summary.json``: every row and skipped result, the reference and the inputs, validated."""
    data = {
        "tool": TOOL, "kind": MERGE_KIND, "format_version": MERGE_FORMAT_VERSION, "tweetbench_version": __version__,
        "reference": None if merge.reference is None else {"host": merge.reference[0], "device": merge.reference[1]},
        "allowed_different_workloads": merge.allowed_different_workloads,
        "workload_differences": list(merge.warnings), "inputs": list(inputs),
        "rows": [_row_record(row) for row in merge.rows], "skipped": [_skipped_record(s) for s in merge.skipped],
    }
    validate_merge_summary(data)
    return data


# --------------------------------------------------------------------------- summary.md


def chart_rows(merge: Merge) -> list[ChartRow]:
    """The charts' rows: ``host · device``, with the variant when the merge holds more than one."""
    several = len({row.record[K_WORKLOAD]["name"] for row in merge.rows}) > 1
    return [(_name(row.host, row.record[K_DEVICE]["name"]) + (f" · {row.record[K_WORKLOAD]['name']}" if several
                                                                else ""), row.record) for row in merge.rows]


def _status(row: Row) -> str:
    status = row.record[K_STATUS] + (" (noisy)" if row.record.get(K_NOISY) else "")
    return status if row.candidate.run_status in ("complete", "unknown") else f"{status} (run {row.candidate.run_status})"


def _speedup(row: Row) -> str:
    if row.is_reference and row.speedup is not None:
        return f"{row.speedup:.2f}× (reference)"
    return fmt(row.speedup, 2, "×")


def rows_table(merge: Merge) -> str:
    """One line per (host, device, variant): throughput, latency, bottleneck and speedup against the reference."""
    ref = _name(*merge.reference) if merge.reference else "reference"
    lines = [(f"| host | device | variant | status | train samples/s | step p50 (ms) | batch-1 p50 / p90 / p99 (ms) | "
             f"batch-256 samples/s | {MAX_QPS_COLUMN} | bottleneck / reason | speedup vs {table_cell(ref)} | "
             "fingerprint | run |"),
             "|" + "---|" * 13]
    for row in merge.rows:
        r = row.record
        train = lookup(r, K_METRICS, "training") or {}
        lat = lookup(r, K_METRICS, "inference", "latency_batch1_ms") or {}
        fingerprint = str(r[K_WORKLOAD].get("fingerprint") or "–").removeprefix("sha256:")[:12]
        mark = " ≠" if row.workload_differs else ""
        lines.append(table_row(
            table_cell(row.host), f"{table_cell(r[K_DEVICE]['label'])} `{r[K_DEVICE]['name']}`",
            table_cell(r[K_WORKLOAD]["name"]), _status(row), fmt(train.get("samples_per_s"), 0),
            fmt(lookup(train, "step_ms", "p50"), 2), " / ".join(fmt(lat.get(p), 3) for p in ("p50", "p90", "p99")),
            fmt(lookup(r, K_METRICS, "inference", "offline", "samples_per_s"), 0), max_qps_cell(r),
            table_cell(lookup(r, K_BREAKDOWN, "verdict") or r.get(K_REASON) or "–"), _speedup(row),
            f"`{fingerprint}`{mark}", table_cell(r[K_RUN_ID])))
    return "\n".join(lines)


def skipped_table(skipped: Sequence[Skipped]) -> list[str]:
    if not skipped:
        return ["Every result found is shown above: none was skipped.", ""]
    lines = ["## Skipped results", "", "| host | device | variant | run | why skipped |", "|---|---|---|---|---|"]
    for s in skipped:
        host, device, variant = s.candidate.key
        lines.append(table_row(*map(table_cell, (host, device, variant, s.candidate.record[K_RUN_ID], s.why))))
    return lines + [""]


def machines_table(merge: Merge) -> list[str]:
    """Each host's CPU and software stack, from its newest shown result."""
    lines = ["## Machines", "", ("| host | CPU | logical cores | torch threads | Python | torch | Lightning | CUDA | "
             "torch_xla |"), "|" + "---|" * 9]
    newest: dict[str, Row] = {}
    for row in merge.rows:
        if row.host not in newest or row.candidate.started_at > newest[row.host].candidate.started_at:
            newest[row.host] = row
    for row in newest.values():
        env = row.record.get(K_ENVIRONMENT) or {}
        lines.append(f"| {table_cell(row.host)} | " + " | ".join(table_cell(env.get(key) or "–") for key in (
            "cpu_model", "cpu_cores_logical", "torch_threads", "python", "torch", "pytorch_lightning", "cuda",
            "torch_xla")) + " |")
    return lines + [""]


def render_merge_summary(merge: Merge, inputs: Sequence[str]) -> str:
    """summary.md of a merge: the rows side by side, the charts, what was skipped, and the machines."""
    hosts = list(dict.fromkeys(row.host for row in merge.rows))
    lines = ["# tweetbench summary across machines", "",
             f"{len(merge.rows)} rows from {len(hosts)} host(s) ({', '.join(hosts)}), merged from: "
             + ", ".join(f"`{table_cell(path)}`" for path in inputs) + ".", ""]
    if merge.reference:
        lines += [(f"Speedup is a row's training samples/s over the reference row's, **{_name(*merge.reference)}**, "
                  "for the same workload variant. Each row is the newest `ok` result of a complete run for its "
                  "host, device and variant."), ""]
    else:
        lines += ["No row can be the reference (no CPU ran ok): no speedup is shown.", ""]
    if merge.warnings:
        lines += [(f"> **Different workloads** (merged with `--allow-different-workloads`): {'; '.join(merge.warnings)}. "
                  "Rows marked ≠ measured another workload than the reference: their speedup compares different "
                  "work, not only different machines."), ""]
    lines += [rows_table(merge), "", *charts_section(chart_rows(merge), SUMMARY_PREFIX), *skipped_table(merge.skipped),
              *machines_table(merge), (f"The same figures as JSON: [{SUMMARY_JSON}]({SUMMARY_JSON}). Rendered by "
              "`tweetbench merge` from the JSON results; do not edit by hand.")]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the writer


def check_out_dir(out: Path, inputs: Sequence[Path]) -> None:
    """Refuse an ``--out`` whose summary.md belongs to runs: an input, or a directory holding runs."""
    if any(out.resolve() == path.resolve() for path in inputs) or (out / RUN_META).exists() \
            or any(out.glob(f"*/{RUN_META}")):
        raise UsageError(f"--out {out} holds tweetbench runs (or is an input): its summary.md belongs to them; "
                         "choose a new directory for the merged summary")


def write_merge(out: Path, merge: Merge, inputs: Sequence[str]) -> list[Path]:
    """Render everything, then write summary.md, summary.json and the PNGs under ``out``."""
    files: dict[str, str | bytes] = {
        SUMMARY_JSON: json.dumps(summary_record(merge, inputs), indent=2, allow_nan=False) + "\n",
        **render_charts(chart_rows(merge), SUMMARY_PREFIX),
        SUMMARY_MD: render_merge_summary(merge, inputs),
    }
    ensure_writable_dir(out)
    for name, content in files.items():
        write_atomic(out / name, content)
    return [out / name for name in files]


def merge_inputs(inputs: Sequence[Path], out: Path, *, labels: Sequence[str], reference: str | None,
                 allow_different_workloads: bool) -> tuple[Merge, list[Path]]:
    """``tweetbench merge``: read the inputs, choose the rows (the default reference is the first
    ``records.REFERENCE_KIND`` row), then write the summary; every refusal comes before any write."""
    names, asked = parse_labels(labels), parse_reference(reference)
    check_out_dir(out, inputs)
    merge = select(find_candidates(inputs, names), reference=asked, reference_kind=REFERENCE_KIND,
                   allow_different_workloads=allow_different_workloads)
    with reporting_on(", ".join(str(path) for path in inputs)):
        return merge, write_merge(out, merge, [str(path) for path in inputs])
