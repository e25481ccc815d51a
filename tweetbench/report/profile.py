"""Pure Markdown renderers for where the time goes, beyond SimpleProfiler's parts: records in, text out.

Per device: each profiler's overhead, the AdvancedProfiler's functions that do the work, the
PyTorchProfiler's operator groups and top operators with their verdict, the device's timeline
(GPU) and, on XLA, the host/device verdict from torch_xla's metrics. Per run: the pictures and how
to open the saved traces. ``report/markdown.py`` places them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.analysis.operators import GROUP_LABELS, GROUPS
from tweetbench.analysis.xla import record_splits
from tweetbench.records import K_BREAKDOWN, Record, lookup
from tweetbench.report.cells import pct
from tweetbench.report.profile_plots import BREAKDOWN_PNG, OPERATORS_PNG, STEP_TIMES_PNG, planned_plots


PROFILER_NAMES = {"simple": "SimpleProfiler", "advanced": "AdvancedProfiler", "pytorch": "PyTorchProfiler"}
PLOT_CAPTIONS = {
    BREAKDOWN_PNG: "The training step's parts per device (SimpleProfiler)",
    OPERATORS_PNG: "The operator groups per device: training step and predict batches (PyTorchProfiler)",
    STEP_TIMES_PNG: "Measured training step times per device, p50 and p99 marked",
}
HOW_TO_OPEN = (
    "Each device's `profiles/<device>/*.pt.trace.json` is the Chrome/Perfetto trace of a few steps (PyTorchProfiler, "
    "Kineto): open it in the Perfetto UI (https://ui.perfetto.dev, *Open trace file*), in Chrome at "
    "`chrome://tracing` (*Load*), or with TensorBoard's profiler plugin (`pip install torch-tb-profiler`, then "
    "`tensorboard --logdir <run>/profiles`: each device is a run). GPU traces also load in Holistic Trace Analysis "
    "(`pip install HolisticTraceAnalysis`; `TraceAnalysis(trace_dir=...)` on a directory holding one trace). The "
    "`.prof` files are the AdvancedProfiler's cProfile dumps (open with `snakeviz` or `python -m pstats`).")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def overheads_line(breakdown: Mapping[str, Any]) -> list[str]:
    """Each profiler's cost: its pass's median step against the timed pass's p50."""
    profilers = breakdown.get("profilers") or {}
    parts = [f"{PROFILER_NAMES.get(name, name)} {o['overhead'] * 100:+.1f}% ({o['profiled_step_ms']:.2f} ms)"
             for name, o in profilers.items() if o]
    for name, entry in (breakdown.get("operators") or {}).items():
        if name != "training" and entry.get("profiler"):
            o = entry["profiler"]
            parts.append(f"PyTorchProfiler on batch-{name.removeprefix('predict_b')} predict "
                         f"{o['overhead'] * 100:+.1f}% ({o['profiled_step_ms']:.2f} ms vs {o['unprofiled_step_ms']:.2f})")
    if not parts:
        return []
    return ["", f"Profiler overhead, each profiled pass's median step against the timed pass's p50 "
                f"({breakdown['unprofiled_step_ms']:.2f} ms for training): " + "; ".join(parts) + ". "
                "The profiled passes never feed the headline figures."]


def functions_table(functions: Sequence[Mapping[str, Any]]) -> str:
    """The AdvancedProfiler's functions that do the work (own time, wrappers folded into their callers)."""
    lines = ["| # | function | calls | own ms per step | of which folded from wrappers (ms) | cumulative (s) |",
             "|---|---|---|---|---|---|"]
    for i, row in enumerate(functions, 1):
        own = row.get("own_ms_per_step")
        folded = row.get("folded_s")
        lines.append(f"| {i} | `{_cell(str(row['function']))}` | {row['calls']} | "
                     f"{'–' if own is None else f'{own:.3f}'} | "
                     f"{'–' if folded is None else f'{folded * 1e3:.2f}'} | {row['cumtime_s']:.4f} |")
    return "\n".join(lines)


def groups_table(entry: Mapping[str, Any]) -> str:
    """Operator groups of one traced loop: host ms per step and share, and the device's where it ran kernels."""
    device = entry.get("basis") == "device"
    header = "| part | host ms per step | host share |" + (" device ms per step | device share |" if device else "")
    lines = [header, "|---|---|---|" + ("---|---|" if device else "")]
    for g in GROUPS:
        row = entry["groups"][g]
        line = f"| {GROUP_LABELS[g]} | {row['ms_per_step']:.3f} | {pct(row['share'])} |"
        if device:
            line += f" {row.get('device_ms_per_step', 0.0):.3f} | {pct(row.get('device_share'))} |"
        lines.append(line)
    lines.append(f"| **total** | {entry['mean_step_ms']:.3f} | 100% |" + (" | 100% |" if device else ""))
    return "\n".join(lines)


def operators_table(operators: Sequence[Mapping[str, Any]], *, device: bool) -> str:
    """The top operators by own (self) time per step."""
    lines = ["| # | operator | part | calls per step | self ms per step | share of the step |"
             + (" device ms per step |" if device else ""), "|---|---|---|---|---|---|" + ("---|" if device else "")]
    for i, op in enumerate(operators, 1):
        line = (f"| {i} | `{_cell(op['name'])}` | {_short(op['group'])} | {op['calls_per_step']:.1f} | "
                f"{op['self_ms_per_step']:.3f} | {pct(op['share'])} |")
        lines.append(line + (f" {op['device_ms_per_step']:.3f} |" if device else ""))
    return "\n".join(lines)


def kernels_table(kernels: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| # | kernel or copy | part | per step | device ms per step | share of device time |",
             "|---|---|---|---|---|---|"]
    for i, k in enumerate(kernels, 1):
        name = k["name"] if len(k["name"]) <= 80 else k["name"][:77] + "..."
        lines.append(f"| {i} | `{_cell(name)}` | {_short(k['group'])} | {k['count_per_step']:.1f} | "
                     f"{k['ms_per_step']:.3f} | {pct(k['share'])} |")
    return "\n".join(lines)


def _short(group: str) -> str:
    return GROUP_LABELS.get(group, group).split(" (")[0]


def timeline_line(what: str, t: Mapping[str, Any]) -> str:
    """The device's timeline of one traced loop, in one line."""
    median = t.get("median_kernel_us")
    return (f"- Device timeline, {what}: **{t['verdict']}**. Kernel {pct(t['kernel_share'])}, copy only "
            f"{pct(t['copy_share'])}, idle {pct(t['idle_share'])} of each {t['mean_step_ms']:.3f} ms step (idle: "
            f"{pct(t['host_wait_share'])} waiting for the host, {pct(t['other_idle_share'])} other); "
            f"{t['kernels_per_step']:.0f} kernels per step, median {'–' if median is None else f'{median:.1f} µs'}.")


def _trace(entry: Mapping[str, Any]) -> str:
    """Where the trace is, and whether the file was cut to fewer steps than were analysed."""
    held = entry.get("trace_steps")
    cut = (f", cut to {entry.get('trace_bytes', 0) / 2**20:.1f} MiB: it holds {held} of them whole"
           if held is not None and held < entry["steps"] else "")
    return f"trace `{entry['trace']}`{cut}"


def _what(name: str) -> str:
    return "training step" if name == "training" else f"batch-{name.removeprefix('predict_b')} predict"


def operator_lines(r: Record) -> list[str]:
    """The PyTorchProfiler pass of one device: training groups and operators, predict verdicts, timelines."""
    operators = lookup(r, K_BREAKDOWN, "operators") or {}
    training = operators.get("training")
    out: list[str] = []
    if training:
        device = training.get("basis") == "device"
        host_side = lookup(r, K_BREAKDOWN, "parts_synced") is False
        out += ["", f"Operators of the training step (PyTorchProfiler, {training['steps']} steps; "
                f"{_trace(training)}): **{training['verdict']}**."
                + (" On this device the operators' times are host-side tracing time; the compiled graph runs "
                   "at the step's end, in \"other\"." if host_side else "")
                + (" Host time is the loop thread's; device time is the kernels' and copies' time." if device else ""),
                "", groups_table(training), "",
                f"Top {len(training['top_operators'])} operators by self time, per training step:", "",
                operators_table(training["top_operators"], device=device)]
        if training.get("top_kernels"):
            out += ["", "Top kernels and copies by device time, per training step:", "",
                    kernels_table(training["top_kernels"])]
    out += [""] if operators and out else []
    for name, entry in operators.items():
        if name != "training":
            out.append(f"- Operators, {_what(name)} ({entry['steps']} batches, mean {entry['mean_step_ms']:.3f} ms; "
                       f"{_trace(entry)}): {entry['verdict']}.")
    for name, entry in operators.items():
        if entry.get("timeline"):
            out.append(timeline_line(_what(name), entry["timeline"]))
    return out


def xla_lines(r: Record) -> list[str]:
    """The host/device verdict of an XLA device, per measured window, from torch_xla's metrics."""
    splits = record_splits(r)
    if not splits:
        return []
    out = ["", ("Host or device (torch_xla's metrics over the measured steps: ExecuteTime against the rest of "
                "the synchronised step):"), ""]
    for what, s in splits.items():
        out.append(f"- {what}: **{s['verdict']}**; {s['executions_per_step']:.1f} graph executions per step.")
    return out


def profile_lines(r: Record) -> list[str]:
    """Everything about where one device's time goes beyond SimpleProfiler's table."""
    b = r.get(K_BREAKDOWN) or {}
    out = overheads_line(b) if b.get("unprofiled_step_ms") else []
    if b.get("top_functions"):
        rule = b.get("top_functions_rule") or "cumulative time"
        out += ["", (f"Top {len(b['top_functions'])} functions in the training step, by {rule} (AdvancedProfiler; "
                     f"`.prof` files in `{b['prof_dir']}`):"), "", functions_table(b["top_functions"])]
    return out + operator_lines(r) + xla_lines(r)


def profile_section(results: Sequence[Record]) -> list[str]:
    """The run-level pictures of where the time goes, and how to open the saved traces."""
    plots = planned_plots(results)
    traced = any(lookup(r, K_BREAKDOWN, "operators") for r in results)
    if not plots and not traced:
        return []
    out = ["## Where the time goes: pictures and traces", ""]
    for png in plots:
        out += [f"![{PLOT_CAPTIONS[png]}]({png})", ""]
    if traced:
        out += [HOW_TO_OPEN, ""]
    return out
