"""Pure Markdown renderers for compiled (XLA) devices: compile cost apart from steady state, and break-even.

A result has a compiled device's figures when its worker recorded device counters with a compile
count (``metrics.device_totals``); nothing here asks which device a result is. Results in, text
out; ``report/markdown.py`` places these sections in the run report and the summary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.records import K_BREAKDOWN, K_DEVICE, K_METRICS, K_STATUS, K_TIMING, Record, lookup
from tweetbench.report.cells import table_row

BREAK_EVEN_RULE = (
    "Break-even: each device's start-up cost is the time from the call to `fit()` to the end of its warm-up "
    "(setup and, on XLA, every compile) less its warm-up steps at its steady median step; the compiled device "
    "has paid its cost back after n = ceil((its start-up cost - the CPU's) / (the CPU's steady step - its own)) "
    "steps, from the two records of this run. \"never\" means its steady step is not faster than the CPU's."
)


def is_compiled(result: Record) -> bool:
    """Whether the result comes from a device that compiles graphs (it counted compilations)."""
    return lookup(result, K_METRICS, "device_totals", "compile_count") is not None


def startup_cost_s(result: Record) -> float | None:
    """Seconds the timed training pass spent beyond steady speed before its measured steps.

    The warm-up runs from the call to ``fit()`` (the first step counted from there) until step time
    settled, so it holds setup and every compile; the steady median step times as many steps is
    what the same steps would have cost without them.
    """
    train = lookup(result, K_METRICS, "training")
    if not isinstance(train, Mapping) or not train.get("step_ms"):
        return None
    warmup = [float(s) for s in train.get("raw_warmup_s") or []]
    first = train.get("time_to_first_step_s")
    if warmup and first is not None:
        warmup[0] = float(first)
    return sum(warmup) - len(warmup) * float(train["step_ms"]["p50"]) / 1e3


def break_even_steps(device_cost_s: float, device_step_s: float, cpu_cost_s: float, cpu_step_s: float) -> int | None:
    """Steps after which a device with a start-up cost (compiles) has caught up with the CPU; None if never.

    Each device needs ``cost + n * step`` seconds for n steps: n is the first whole number of steps at
    which the device's total is no more than the CPU's. Never when its steady step is not faster.
    """
    gain = cpu_step_s - device_step_s
    if gain <= 0:
        return None
    return max(1, math.ceil((device_cost_s - cpu_cost_s) / gain))


def break_even_for(result: Record, cpu: Record | None) -> tuple[int | None, str]:
    """Break-even of ``result`` against the run's CPU result, and the text for the table."""
    if cpu is None:
        return None, "– (no CPU result in this run)"
    if result[K_STATUS] != "ok":
        return None, f"– ({result[K_STATUS]})"
    mine, theirs = startup_cost_s(result), startup_cost_s(cpu)
    mine_p50 = lookup(result, K_METRICS, "training", "step_ms", "p50")
    cpu_p50 = lookup(cpu, K_METRICS, "training", "step_ms", "p50")
    if mine is None or theirs is None or mine_p50 is None or cpu_p50 is None:
        return None, "–"
    n = break_even_steps(mine, mine_p50 / 1e3, theirs, cpu_p50 / 1e3)
    if n is None:
        return None, f"never (steady step {mine_p50:.1f} ms vs the CPU's {cpu_p50:.1f} ms)"
    return n, f"after {n:,} steps (start-up {mine:.1f} s vs the CPU's {theirs:.1f} s)"


def _seconds(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f} s"


def _compiles(counters: Mapping[str, Any] | None) -> str:
    if not counters or counters.get("compile_count") is None:
        return "–"
    return f"{counters['compile_count']} ({_seconds(counters.get('compile_s'))})"


def fallback_text(counters: Mapping[str, Any] | None) -> str:
    """The ``aten::*`` ops that fell back to the CPU, most frequent first."""
    ops = (counters or {}).get("fallback_ops") or {}
    if not ops:
        return "none"
    ordered = sorted(ops.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"`{name}` ×{count}" for name, count in ordered)


def _window_compiles(result: Record) -> str:
    windows = [lookup(result, K_METRICS, "device_counters"),
               lookup(result, K_METRICS, "inference", "device_counters"),
               lookup(result, K_METRICS, "inference", "offline", "device_counters")]
    return " / ".join("–" if not w else str(w.get("compile_count", "–")) for w in windows)


def compile_table(results: Sequence[Record], cpu: Record | None) -> str:
    """Per compiled device: time to first step, compiles, execute time, steady step and break-even vs the CPU."""
    lines = ["| device | status | time to first step | compiles (time), whole run | compiles in measured steps: "
             "training / batch-1 / batched | execute time, whole run | steady step p50 | break-even vs CPU | "
             "ops that fell back to the CPU |", "|" + "---|" * 9]
    for r in results:
        if not is_compiled(r):
            continue
        totals = lookup(r, K_METRICS, "device_totals")
        p50 = lookup(r, K_METRICS, "training", "step_ms", "p50")
        lines.append(table_row(
            r[K_DEVICE]["label"], r[K_STATUS], _seconds(lookup(r, K_METRICS, "training", "time_to_first_step_s")),
            _compiles(totals), _window_compiles(r), _seconds(totals.get("execute_s"), 2),
            "–" if p50 is None else f"{p50:.2f} ms", break_even_for(r, cpu)[1], fallback_text(totals)))
    return "\n".join(lines)


def phase_table(result: Record) -> str:
    """One compiled device's compiles and executions per phase of the run."""
    phases = lookup(result, K_METRICS, "device_phases") or {}
    seconds = lookup(result, K_TIMING, "phases_s") or {}
    lines = ["| phase | wall | compiles | compile time | executions | compile-cache hits | loaded from disk |",
             "|" + "---|" * 7]
    for name, c in phases.items():
        lines.append(f"| {name} | {_seconds(seconds.get(name))} | {c.get('compile_count', '–')} | "
                     f"{_seconds(c.get('compile_s'))} | {c.get('execute_count', '–')} | "
                     f"{c.get('cached_compile_count', '–')} | {c.get('persistent_cache_hits', '–')} |")
    return "\n".join(lines)


def _facts_line(r: Record) -> str:
    facts = lookup(r, K_DEVICE, "facts") or {}
    parts = [f"PJRT device {facts['pjrt_device']}" if facts.get("pjrt_device") else "",
             f"torch_xla {facts['torch_xla']}" if facts.get("torch_xla") else "",
             f"predict runs under {facts['predict_grad_mode']}" if facts.get("predict_grad_mode") else "",
             f"functionalization {facts['functionalization']}" if facts.get("functionalization") else "",
             (f"persistent compile cache `{facts['persistent_compile_cache']}` "
              f"({facts.get('compile_cache_state') or 'state unknown'}; one folder per torch_xla version, matmul "
              "precision, functionalization and XLA_FLAGS)" if facts.get("persistent_compile_cache")
              else "no persistent compile cache: every compile is cold")]
    if lookup(r, K_BREAKDOWN, "parts_synced") is False:
        parts.append("its time breakdown is host-side (tracing) time: no sync between the parts of a step, "
                     "which would compile new graphs")
    return f"- {r[K_DEVICE]['label']}: " + "; ".join(p for p in parts if p) + "."


def compile_section(results: Sequence[Record], cpu: Record | None, *, phases: bool = False) -> list[str]:
    """The "compiled devices" section (empty when no result compiled); ``phases`` adds each device's phase table."""
    compiled = [r for r in results if is_compiled(r)]
    if not compiled:
        return []
    out = ["## Compile cost (XLA)", "",
           "Compile time is reported apart from the steady state: every headline figure above is measured after "
           "warm-up, and a compile inside the measured steps makes a result `invalid`. Time to first step runs "
           "from the call to `fit()` to the end of the first synchronised step.", "",
           compile_table(results, cpu), "", BREAK_EVEN_RULE, "", *[_facts_line(r) for r in compiled], ""]
    if phases:
        for r in compiled:
            if lookup(r, K_METRICS, "device_phases"):
                out += [f"Compiles per phase, {r[K_DEVICE]['label']}:", "", phase_table(r), ""]
    return out
