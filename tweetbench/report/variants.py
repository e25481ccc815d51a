"""``variants.md``: the newest result of every workload variant on every device, side by side with its reference.

A pure renderer over the records of every run; speed comes from the benchmark scenario, accuracy from the
convergence scenario.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.records import (
    K_DEVICE,
    K_METRICS,
    K_NOISY,
    K_REASON,
    K_RUN_ID,
    K_SCENARIO,
    K_STATUS,
    K_TIMING,
    K_WORKLOAD,
    Record,
)
from tweetbench.report.cells import fmt, pct, short_fingerprint
from tweetbench.report.convergence import convergence, time_to_accuracy_cell
from tweetbench.workload.variants import direction, family_key, is_reference, precision_label

UNSUPPORTED = "unsupported on this device"


def _started(r: Record) -> float:
    return float((r.get(K_TIMING) or {}).get("started_at") or 0.0)


def _scenario(r: Record) -> str:
    return str(r.get(K_SCENARIO) or "benchmark")


def latest_variants(results: Sequence[Record]) -> list[Record]:
    """The newest record per (variant, device, scenario); a device that lacks a precision is kept, one
    that is absent from the machine is not."""
    newest: dict[tuple[str, str, str], Record] = {}
    for r in results:
        if r[K_STATUS] == "unavailable" and not str(r.get(K_REASON, "")).startswith(UNSUPPORTED):
            continue
        if r[K_STATUS] == "failed":
            continue
        key = (r[K_WORKLOAD]["name"], r[K_DEVICE]["name"], _scenario(r))
        if key not in newest or _started(r) > _started(newest[key]):
            newest[key] = r
    return sorted(newest.values(), key=lambda r: (r[K_DEVICE]["name"], r[K_WORKLOAD]["name"]))


def _throughput(r: Record | None) -> float | None:
    if r is None or r[K_STATUS] != "ok":
        return None
    metrics = r.get(K_METRICS) or {}
    if "training" in metrics:
        return metrics["training"].get("samples_per_s")
    return (metrics.get("convergence") or {}).get("samples_per_s")


def variant_rows(results: Sequence[Record]) -> list[dict[str, Any]]:
    """One row per (variant, device): its benchmark and convergence records and its reference's row."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in latest_variants(results):
        key = (r[K_DEVICE]["name"], r[K_WORKLOAD]["name"])
        row = rows.setdefault(key, {"device": r[K_DEVICE], "workload": r[K_WORKLOAD], "benchmark": None,
                                    "convergence": None})
        row[_scenario(r)] = r
        if r[K_WORKLOAD].get("fingerprint"):
            row["workload"] = r[K_WORKLOAD]
    for row in rows.values():
        config = row["workload"]["config"]
        row["reference"] = next(
            (other for other in rows.values()
             if other["device"]["name"] == row["device"]["name"] and is_reference(other["workload"]["config"])
             and family_key(other["workload"]["config"]) == family_key(config)), None)
    return sorted(rows.values(), key=lambda row: (row["device"]["name"], not is_reference(row["workload"]["config"]),
                                                  row["workload"]["name"]))


def _ratio(row: Mapping[str, Any], scenario: str) -> float | None:
    ref = row["reference"]
    if ref is None:
        return None
    mine, base = _throughput(row[scenario]), _throughput(ref[scenario])
    return mine / base if mine and base else None


def _note(row: Mapping[str, Any]) -> str:
    notes = [r[K_REASON] for r in (row["benchmark"], row["convergence"]) if r is not None and r[K_STATUS] != "ok"]
    return "; ".join(dict.fromkeys(notes))


def _ok(r: Record | None) -> Record | None:
    return r if r is not None and r[K_STATUS] == "ok" else None


def variants_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per (device, variant): its speed, its accuracy and its throughput against its reference's."""
    lines = ["| device | variant | direction | precision | fingerprint | train samples/s | step p50 (ms) | "
             "batch-1 p50 (ms) | throughput vs fp32 BiLSTM | time to accuracy | best val acc | test acc | "
             "epochs (best) | note |", "|" + "---|" * 14]
    for row in rows:
        config = row["workload"]["config"]
        bench = _ok(row["benchmark"])
        conv_rec = _ok(row["convergence"])
        conv = convergence(conv_rec) if conv_rec is not None else None
        train = bench[K_METRICS].get("training") or {} if bench else {}
        latency = (bench[K_METRICS].get("inference") or {}).get("latency_batch1_ms") or {} if bench else {}
        ratio = _ratio(row, "benchmark")
        source = "" if ratio is not None else "†"
        if ratio is None:
            ratio = _ratio(row, "convergence")
        speed = train.get("samples_per_s") or (conv or {}).get("samples_per_s")
        epochs = f"{conv['epochs_run']} ({conv['best_epoch']})" if conv else "–"
        marks = (source if speed and not train else "") + (" (noisy)" if bench and bench.get(K_NOISY) else "")
        lines.append(
            f"| {row['device']['label']} | {row['workload']['name']} | {direction(config)} | "
            f"{precision_label(config)} | {short_fingerprint(row['workload'].get('fingerprint'))} | "
            f"{fmt(speed, 0)}{marks} | "
            f"{fmt((train.get('step_ms') or {}).get('p50'), 2)} | {fmt(latency.get('p50'), 3)} | "
            f"{'reference' if row['reference'] is row else fmt(ratio, 2, '×')} | "
            f"{time_to_accuracy_cell(conv) if conv else '–'} | {pct((conv or {}).get('best_val_acc'))} | "
            f"{pct((conv or {}).get('test_acc'))} | "
            f"{epochs} | {_note(row)} |")
    return "\n".join(lines)


def variants_words(rows: Sequence[Mapping[str, Any]]) -> str:
    """Each variant against its reference on the same device, in plain words."""
    sentences = []
    for row in rows:
        config, ref = row["workload"]["config"], row["reference"]
        name, device = row["workload"]["name"], row["device"]["label"]
        note = _note(row)
        if note and UNSUPPORTED in note:
            sentences.append(f"{name} on {device}: {note}.")
            continue
        if ref is None or ref is row:
            continue
        parts = []
        ratio = _ratio(row, "benchmark") or _ratio(row, "convergence")
        if ratio is not None:
            parts.append(f"{ratio:.2f}× the fp32 BiLSTM's training throughput")
        mine, base = convergence(row["convergence"] or {}), convergence(ref["convergence"] or {})
        if mine and base and mine.get("test_acc") is not None and base.get("test_acc") is not None:
            delta = (mine["test_acc"] - base["test_acc"]) * 100
            parts.append(f"test accuracy {pct(mine['test_acc'])} against {pct(base['test_acc'])} "
                         f"({delta:+.1f} points)")
        if parts:
            sentences.append(f"{name} ({direction(config)}, {precision_label(config)}) on "
                             f"{device}: {'; '.join(parts)}.")
    return " ".join(sentences)


def render_variants(results: Sequence[Record]) -> str:
    """``variants.md``: the newest result of every workload variant on every device, side by side."""
    rows = variant_rows(results)
    lines = ["# tweetbench workload variants", ""]
    if not rows:
        return "\n".join(lines + ["No variant has results yet: run e.g. `tweetbench run --workload v1,v1-uni "
                                  "--precision 32-true,bf16-mixed` (add `--scenario convergence` for accuracy).", ""])
    runs = sorted({str(r.get(K_RUN_ID)) for row in rows for r in (row["benchmark"], row["convergence"]) if r})
    lines += [
        "Each variant has its own name and fingerprint. Speed comes from the benchmark scenario, accuracy from the "
        "convergence scenario; † marks a throughput taken from the convergence run because the variant has no "
        "benchmark result. The rows come from separate runs "
        f"({', '.join(runs)}): on a shared machine, differences of a few tens of percent can be run-to-run noise.",
        "",
        variants_table(rows),
        "",
        variants_words(rows),
        "",
        "Rendered from the JSON results by `tweetbench report`; do not edit by hand.",
    ]
    return "\n".join(lines) + "\n"
