"""Pure Markdown renderers: result records in, text out. Nothing here reads a clock or a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.analysis.breakdown import PART_LABELS, PARTS
from tweetbench.records import (
    K_BREAKDOWN,
    K_DEVICE,
    K_DISTRIBUTED,
    K_ERROR_TAIL,
    K_METRICS,
    K_NOISY,
    K_REASON,
    K_STATUS,
    K_WORKLOAD,
    REFERENCE_KIND,
    Record,
    lookup,
)
from tweetbench.records.run import R_DEVICES, R_PRESET, R_RUN_ID, R_SCENARIO, R_STARTED, R_STATUS, R_WORKLOAD
from tweetbench.report.cells import environment_line, fmt, run_document, when, workload_line
from tweetbench.report.charts import SUMMARY_PREFIX, charts_section, device_rows
from tweetbench.report.convergence import convergence_table, convergence_words, render_convergence_report
from tweetbench.report.division import division_section
from tweetbench.report.efficiency import device_lines, efficiency_section
from tweetbench.report.interference import headline_lines, interference_lines, status_note, window_sentence
from tweetbench.report.parity import diverged, parity_flags, parity_section
from tweetbench.report.profile import profile_lines, profile_section
from tweetbench.report.scaling import scaling_section
from tweetbench.report.serving import render_serving_report, serving_summary_lines
from tweetbench.report.trials import noise_flags, samples_cell, trials_lines
from tweetbench.report.xla import compile_section


def _bytes(value: int | None) -> str:
    if not value:
        return "–"
    return f"{value / 2**20:,.0f} MiB"


def reference_result(results: Sequence[Record]) -> Record | None:
    """The reference device's (the CPU's) result every speedup is measured against, if it ran ok (one
    process, not a data-parallel run over several)."""
    return next((r for r in results if r[K_DEVICE]["kind"] == REFERENCE_KIND and r[K_STATUS] == "ok"
                 and not r.get(K_DISTRIBUTED)), None)


def speedup(result: Record, reference: Record | None) -> float | None:
    if reference is None or result[K_STATUS] != "ok":
        return None
    base = lookup(reference, K_METRICS, "training", "samples_per_s")
    mine = lookup(result, K_METRICS, "training", "samples_per_s")
    return mine / base if base and mine else None


def _device_memory(result: Record) -> str:
    memory = lookup(result, K_METRICS, "memory", "device") or {}
    parts = [f"{key.replace('_bytes', '').replace('_', ' ')} {_bytes(value)}"
             for key, value in memory.items() if isinstance(value, int | float)]
    return "; ".join(parts) if parts else "–"


def side_by_side_table(results: Sequence[Record]) -> str:
    """Devices as columns' rows: throughput, latency percentiles, memory, bottleneck and speedup."""
    base = reference_result(results)
    flagged = diverged(results)
    header = ("| device | status | train samples/s | tokens/s | step p50 / p90 / p99 (ms) | "
              "batch-1 request latency p50 / p90 / p99 (ms) | batch-256 samples/s | peak RSS | device memory | "
              "bottleneck | speedup vs CPU |")
    lines = [header, "|" + "---|" * 11]
    for r in results:
        train = lookup(r, K_METRICS, "training") or {}
        step = train.get("step_ms") or {}
        latency = lookup(r, K_METRICS, "inference", "latency_batch1_ms") or {}
        offline = lookup(r, K_METRICS, "inference", "offline", "samples_per_s")
        verdict = lookup(r, K_BREAKDOWN, "verdict") or "–"
        sp = speedup(r, base)
        status = r[K_STATUS] + (" (noisy)" if r.get(K_NOISY) else "")
        status += f" ({status_note(r)})" if status_note(r) else ""
        status += " (diverged from the CPU)" if r[K_DEVICE]["name"] in flagged else ""
        lines.append(
            f"| {r[K_DEVICE]['label']} | {status} | {samples_cell(r) or fmt(train.get('samples_per_s'), 0)} | "
            f"{fmt(train.get('tokens_per_s'), 0)} | "
            f"{fmt(step.get('p50'), 2)} / {fmt(step.get('p90'), 2)} / {fmt(step.get('p99'), 2)} | "
            f"{fmt(latency.get('p50'), 3)} / {fmt(latency.get('p90'), 3)} / {fmt(latency.get('p99'), 3)} | "
            f"{fmt(offline, 0)} | {_bytes(lookup(r, K_METRICS, 'memory', 'peak_rss_bytes'))} | "
            f"{_device_memory(r)} | {verdict} | {fmt(sp, 2, '×')} |"
        )
    return "\n".join(lines)


def plain_words(results: Sequence[Record]) -> str:
    """What the numbers mean, in a few sentences."""
    sentences = []
    ok = [r for r in results if r[K_STATUS] == "ok"]
    base = reference_result(results)
    for r in ok:
        train = r[K_METRICS]["training"]
        # A data-parallel result measures training only (its single-device scaling reference has the inference).
        latency = lookup(r, K_METRICS, "inference", "latency_batch1_ms")
        per_device = " per device" if r.get(K_DISTRIBUTED) else ""
        text = (f"{r[K_DEVICE]['label']} trained the {r[K_WORKLOAD]['name']} model at "
                f"{train['samples_per_s']:,.0f} tweets per second (a median step of {train['step_ms']['p50']:.1f} ms "
                f"for a batch of {train['batch_size']}{per_device})")
        if latency:
            text += f" and classified a single tweet in {latency['p50']:.2f} ms at the median"
        sp = speedup(r, base)
        if sp is not None and r is not base:
            text += f", {sp:.2f}× the CPU's training throughput"
        sentences.append(text + ".")
        verdict = lookup(r, K_BREAKDOWN, "verdict")
        if verdict:
            sentences.append(f"Its training step is {verdict}.")
    for r in results:
        hit = (lookup(r, K_METRICS, "interference") or {}).get("interfered_windows") or []
        if hit:
            window = lookup(r, K_METRICS, "interference", "windows", hit[0]) or {}
            sentences.append(f"On {r[K_DEVICE]['name']}, {window_sentence(hit[0], window)}"
                             + (f" Also interfered: {', '.join(hit[1:])}." if hit[1:] else ""))
    for r in results:
        if r[K_STATUS] == "unavailable":
            sentences.append(f"{r[K_DEVICE]['name']} was not run: {r[K_REASON]}.")
        elif r[K_STATUS] in ("failed", "invalid"):
            sentences.append(f"{r[K_DEVICE]['name']} is {r[K_STATUS]}: {r[K_REASON]}.")
    if not ok:
        sentences.append("No device produced a valid measurement in this run.")
    return " ".join(sentences)


def breakdown_table(breakdown: Mapping[str, Any]) -> str:
    lines = ["| part | ms per step | share |", "|---|---|---|"]
    for name in PARTS:
        row = breakdown["parts"][name]
        lines.append(f"| {PART_LABELS[name]} | {row['ms_per_step']:.3f} | {row['share'] * 100:.1f}% |")
    lines.append(f"| **total** | {breakdown['parts_step_ms']:.3f} | 100% |")
    return "\n".join(lines)


def device_section(r: Record) -> str:
    """The details of one device: training, inference, overhead, breakdown, environment."""
    out = [f"### {r[K_DEVICE]['label']} — `{r[K_DEVICE]['name']}`", "", f"Status: **{r[K_STATUS]}**"
           + (f" — {r[K_REASON]}" if r[K_REASON] else "")]
    if r[K_STATUS] != "ok" and not lookup(r, K_METRICS, "training"):
        tail = r.get(K_ERROR_TAIL) or []
        if tail:
            out += ["", "Last lines of its error:", "", "```", *tail[-10:], "```"]
        return "\n".join(out)
    train = r[K_METRICS]["training"]
    out += ["", f"- Training: {train['samples_per_s']:,.1f} samples/s, {train['tokens_per_s']:,.0f} tokens/s; "
            f"step mean {train['step_ms']['mean']:.2f} ms, stdev {train['step_ms']['stdev']:.2f} ms, "
            f"CV {train['step_ms']['cv'] * 100:.1f}%; final loss {fmt(train.get('final_loss'), 4)}.",
            f"- Warm-up: {train['warmup_steps']} steps ({train['warmup_rule']}"
            + ("; cap reached" if train.get("warmup_capped") else "") + f"), then {train['measured_steps']} "
            "measured steps."]
    out += headline_lines(r)
    inference = lookup(r, K_METRICS, "inference")
    if inference:
        off = inference["offline"]
        out.append(f"- Inference: batch-1 request latency (through Trainer.predict) p50 "
                   f"{inference['latency_batch1_ms']['p50']:.3f} ms over {inference['latency_batch1_ms']['count']} "
                   f"requests; batch-{off['batch_size']} {off['samples_per_s']:,.0f} samples/s.")
        out += model_latency_lines(inference)
    out += [f"- Warning: {warning}." for warning in lookup(r, K_METRICS, "window_warnings") or []]
    out += interference_lines(r)
    out += timer_lines(r)
    out += overlap_lines(r)
    overhead = lookup(r, K_METRICS, "overhead")
    if overhead:
        out.append(overhead_line(overhead))
    memory = lookup(r, K_METRICS, "memory") or {}
    out.append(f"- Memory: peak RSS {_bytes(memory.get('peak_rss_bytes'))}; device: {_device_memory(r)}.")
    out += device_lines(r)
    out += trials_lines(r)
    b = r.get(K_BREAKDOWN)
    if b:
        out += ["", f"Where the time goes ({b['verdict']}); profiled step {b['profiled_step_ms']:.2f} ms vs "
                f"{b['unprofiled_step_ms']:.2f} ms unprofiled (profiler overhead {b['profiler_overhead'] * 100:+.1f}%):",
                "", breakdown_table(b)]
        out += profile_lines(r)
    out += ["", environment_line(r)]
    return "\n".join(out)


def overlap_lines(r: Record) -> list[str]:
    """Throughput with host/device overlap against per-step synchronised, for training and batched inference."""
    out = []
    for name, section in (("training", lookup(r, K_METRICS, "training")),
                          ("batched inference", lookup(r, K_METRICS, "inference", "offline"))):
        gain, flag = (section or {}).get("overlap_gain"), (section or {}).get("overlap_gain_flag")
        if flag:
            out.append(f"- Overlap ({name}): no gain given, {flag} (it read "
                       f"{fmt(section.get('overlap_gain_unreliable'), 2, '×')}).")
        elif gain:
            out.append(f"- Overlap ({name}): {section['samples_per_s']:,.0f} samples/s with the host running "
                       f"ahead of the device, {section['samples_per_s_synced']:,.0f} synchronised every step: "
                       f"overlap gain {gain:.3f}×.")
    return out


def timer_lines(r: Record) -> list[str]:
    """The timer-agreement check of each window: the device clock against the host's, or why it does not apply."""
    out = []
    for name, section in (("training", lookup(r, K_METRICS, "training")),
                          ("batch-1 inference", lookup(r, K_METRICS, "inference")),
                          ("batched inference", lookup(r, K_METRICS, "inference", "offline"))):
        check = (section or {}).get("timer_agreement") or {}
        if check.get("status") in ("agrees", "disagrees"):
            out.append(f"- Timer agreement ({name}): {check['source']} {check['status']} with the host clock on "
                       f"{check['steps']} synchronised steps ({check['total_rel_diff'] * 100:+.2f}% in total, "
                       f"{check['p50_rel_diff'] * 100:+.2f}% at the median; tolerance {check['tolerance']:.0%}).")
        elif check.get("status") and name == "training":
            out.append(f"- Timer agreement: {check['status']}: {check.get('reason')}.")
    return out


def model_latency_lines(inference: Mapping[str, Any]) -> list[str]:
    """The model's own batch-1 latency beside the request's, and their ratio (the inference overhead)."""
    model, ratio = inference.get("model_latency_batch1_ms"), inference.get("inference_overhead")
    if not model or not ratio:
        return []
    return [f"- Model latency (the forward alone, synchronised): batch-1 p50 {model['p50']:.3f} ms "
            f"(p90 {model['p90']:.3f}, p99 {model['p99']:.3f}); inference overhead: a request takes "
            f"{ratio['ratio_p50']:.2f}× the forward at p50 ({ratio['loop_ms_p50']:.3f} ms of predict loop)."]


def overhead_line(overhead: Mapping[str, Any]) -> str:
    """The training overhead in words: the ratio, its interval over rounds and the verdict."""
    verdict = overhead.get("verdict") or ("meets" if overhead["meets_target"] else "misses")
    ci = overhead.get("ci95")
    interval = f", 95% interval {ci[0]:.3f}–{ci[1]:.3f} over rounds" if ci else ""
    return (f"- Framework overhead: tweetbench (Lightning) runs at {overhead['ratio']:.3f}× the throughput of a "
            f"bare PyTorch loop on the same batches{interval}: {verdict} the {overhead['target']:.2f} target "
            f"(rounds: {', '.join(f'{x:.3f}' for x in overhead['round_ratios'])}).")


def render_run_report(meta: Mapping[str, Any], results: Sequence[Record]) -> str:
    """The report of one run: the side-by-side table, the plain-words reading, then each device."""
    if meta.get(R_SCENARIO) == "convergence":
        return render_convergence_report(meta, results)
    if meta.get(R_SCENARIO) == "serve":
        return render_serving_report(meta, results)
    about = (f"{workload_line(results, meta.get(R_WORKLOAD))}; preset `{meta.get(R_PRESET)}`; scenario "
             f"`{meta.get(R_SCENARIO)}`; started {when(meta.get(R_STARTED))}.")
    body = [*[line for flag in noise_flags(results) for line in (flag, "")], side_by_side_table(results), "",
            plain_words(results), "", *division_section(results), *scaling_section(results),
            *efficiency_section(results), *compile_section(results, reference_result(results), phases=True),
            *parity_section(results), *profile_section(results)]
    return run_document("tweetbench run", meta, about, body, [device_section(r) for r in results])


def render_summary(meta: Mapping[str, Any], results: Sequence[Record],
                   earlier: Sequence[Mapping[str, Any]] = ()) -> str:
    """results/summary.md: the latest run side by side, with links to every earlier run."""
    lines = [
        "# tweetbench summary",
        "",
        f"Latest run: [{meta[R_RUN_ID]}]({meta[R_RUN_ID]}/report.md) ({meta.get(R_STATUS)}, "
        f"{when(meta.get(R_STARTED))}). {workload_line(results, meta.get(R_WORKLOAD))}; preset `{meta.get(R_PRESET)}`.",
        "",
    ]
    if meta.get(R_STATUS) != "complete":
        lines += [f"> **The latest run is {meta.get(R_STATUS)}**: the devices below are those that finished.", ""]
    if meta.get(R_SCENARIO) == "convergence":
        lines += [convergence_table(results), "", convergence_words(results), "", *division_section(results)]
    elif meta.get(R_SCENARIO) == "serve":
        lines += serving_summary_lines(results)
    else:
        flags = noise_flags(results) + parity_flags(results)
        lines += [*flags, *([""] if flags else []), side_by_side_table(results), "", plain_words(results), "",
                  *division_section(results), *scaling_section(results),
                  *compile_section(results, reference_result(results)), *parity_section(results),
                  *charts_section(device_rows(results), SUMMARY_PREFIX)]
    if earlier:
        lines += ["## Earlier runs", "", "| run | status | devices | workload | preset | scenario |",
                  "|---|---|---|---|---|---|"]
        for run in earlier:
            lines.append(f"| [{run[R_RUN_ID]}]({run[R_RUN_ID]}/report.md) | {run.get(R_STATUS, '?')} | "
                         f"{', '.join(run.get(R_DEVICES, []))} | {run.get(R_WORKLOAD, '?')} | "
                         f"{run.get(R_PRESET, '?')} | {run.get(R_SCENARIO) or 'benchmark'} |")
        lines.append("")
    lines.append("Workload variants (direction, precision) side by side: [variants.md](variants.md).")
    lines.append("")
    lines.append("Rendered from the JSON results by `tweetbench report`; do not edit by hand.")
    return "\n".join(lines) + "\n"
