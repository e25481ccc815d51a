"""Pure Markdown renderers for the open division: closed against open per device, and each knob's ablation.

An open result is a device result whose ``metrics.open`` holds the knobs considered, those applied, the
in-run closed/open ratios with their intervals, the compile cost and the accuracy gate. Results in, text
out; ``report/markdown.py`` and ``report/convergence.py`` place the section in the reports and the summary.
Every key may be missing or null (a convergence run has no throughput figures): such a cell reads "–".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.records import K_DEVICE, K_METRICS, K_REASON, K_STATUS, Record, lookup
from tweetbench.report.cells import fmt, table_cell, table_row

Block = Mapping[str, Any]

DIVISION_RULE = (
    "The open division may change how each step is computed (the Adam implementation, torch.compile, CUDA graphs, "
    "XLA options, CPU threads and affinity, the data loader), never the model, the hyper-parameters, the data order "
    "or the precision; closed and open were measured in the same run, interleaved round by round, so each "
    "open/closed ratio is in-run, and an open result counts only when it passes the accuracy gate."
)


def open_block(result: Record) -> Block | None:
    """The result's open-division block (``metrics.open``), or None for a closed result."""
    block = lookup(result, K_METRICS, "open")
    return block if isinstance(block, Mapping) else None


def open_results(results: Sequence[Record]) -> list[Record]:
    """The results that carry an open-division block, in their order."""
    return [r for r in results if open_block(r) is not None]


def ratio_cell(speedup: float | None, ci95: Sequence[float] | None) -> str:
    """``1.41× [1.33, 1.50]``; ``[–]`` without an interval; an en dash without a ratio."""
    if speedup is None:
        return "–"
    interval = f"[{ci95[0]:.2f}, {ci95[1]:.2f}]" if ci95 and len(ci95) == 2 else "[–]"
    return f"{speedup:.2f}× {interval}"


def _pair(section: Mapping[str, Any] | None, closed: str, opened: str, digits: int) -> str:
    """``closed / open (ratio×)`` of one metric; "–" where a figure is missing."""
    if not section:
        return "–"
    text = f"{fmt(section.get(closed), digits)} / {fmt(section.get(opened), digits)}"
    return text + (f" ({section['speedup']:.2f}×)" if section.get("speedup") is not None else "")


def invalid_reason(result: Record) -> str | None:
    """Why the open result is invalid (its accuracy gate failed), or None when it is valid."""
    block = open_block(result) or {}
    if block.get("valid", True) is not False and result.get(K_STATUS) != "invalid":
        return None
    return str(block.get("reason") or result.get(K_REASON) or "the accuracy gate failed")


def gate_cell(result: Record) -> str:
    """The accuracy gate in a few words: invalid with its reason, else the parity and convergence verdicts."""
    reason = invalid_reason(result)
    if reason is not None:
        return f"**invalid**: {reason}"
    gate = (open_block(result) or {}).get("gate") or {}
    parts = []
    if gate.get("parity"):
        parts.append(f"parity {gate['parity'].get('verdict') or '–'}")
    if gate.get("convergence"):
        ok = gate["convergence"].get("ok")
        parts.append(f"convergence {'–' if ok is None else 'ok' if ok else 'failed'}")
    return ", ".join(parts) or "–"


def _applied(block: Block) -> str:
    applied = block.get("applied")
    if applied is None:
        return "–"
    return ", ".join(f"`{name}`" for name in applied) or "none (open = closed)"


def _offline_header(results: Sequence[Record]) -> str:
    sizes = {lookup(open_block(r), "inference_offline", "batch_size") for r in results} - {None}
    return f"batch-{sizes.pop()}" if len(sizes) == 1 else "batched"


def division_table(results: Sequence[Record]) -> str:
    """Per device with an open result: closed and open throughput, their ratio, latency, knobs and the gate
    ("" when no result has an open block)."""
    shown = open_results(results)
    if not shown:
        return ""
    lines = [f"| device | closed samples/s | open samples/s | open/closed [95% CI] | batch-1 closed / open (ms) | "
             f"{_offline_header(shown)} closed / open samples/s | knobs applied | accuracy gate |", "|" + "---|" * 8]
    for r in shown:
        block = open_block(r) or {}
        train = block.get("training") or {}
        lines.append(table_row(
            table_cell(r[K_DEVICE]["label"]), fmt(train.get("closed_samples_per_s"), 0),
            fmt(train.get("open_samples_per_s"), 0), ratio_cell(train.get("speedup"), train.get("ci95")),
            _pair(block.get("inference_batch1"), "closed_p50_ms", "open_p50_ms", 3),
            _pair(block.get("inference_offline"), "closed_samples_per_s", "open_samples_per_s", 0),
            _applied(block), table_cell(gate_cell(r))))
    return "\n".join(lines)


def knob_table(block: Block) -> str:
    """Every knob option considered on the device, in order: its setting, measured speedup and decision."""
    lines = ["| knob | setting | speedup [95% CI] | decision | why |", "|---|---|---|---|---|"]
    for knob in block.get("knobs") or []:
        setting = knob.get("setting")
        decision = knob.get("decision") or "–"
        if knob.get("supported") is False:
            decision = f"{decision} (not supported here)"
        why = knob.get("why") or knob.get("problem") or "–"
        if knob.get("problem") and knob["problem"] not in why:
            why = f"{why}; {knob['problem']}"
        lines.append(f"| `{table_cell(knob.get('name') or '?')}` | {f'`{table_cell(setting)}`' if setting else '–'} | "
                     f"{ratio_cell(knob.get('speedup'), knob.get('ci95'))} | "
                     f"{'**kept**' if decision == 'kept' else table_cell(decision)} | {table_cell(why)} |")
    return "\n".join(lines)


def isolation_lines(block: Block) -> list[str]:
    """How each knob measured in processes of its own was interleaved with closed, and its parity ([] if none)."""
    out = [f"- `{table_cell(knob.get('name') or '?')}` ran in processes of its own: {knob['isolation']}; "
           f"parity max |Δloss| against closed {_exp(knob.get('parity_max_abs_diff'))}, "
           f"{knob.get('rounds') or 0} rounds."
           for knob in block.get("knobs") or [] if knob.get("isolation")]
    return [*out, ""] if out else []


def compile_line(block: Block) -> list[str]:
    """The compile cost and when it is paid back, or the recorded note ([] when the record has none)."""
    cost = block.get("compile")
    if not cost:
        return []
    seconds, steps, note = cost.get("seconds"), cost.get("payback_steps"), cost.get("note")
    if seconds is not None and steps is not None:
        return [f"Compilation: {fmt(seconds)} s, paid back after {fmt(steps, 0)} steps at "
                f"{fmt(cost.get('step_saving_ms'))} ms saved per step."]
    head = f"{fmt(seconds)} s" if seconds is not None else ""
    return [f"Compilation: {'; '.join(p for p in (head, note) if p) or '–'}."]


def _exp(value: float | None) -> str:
    return "–" if value is None else f"{value:.0e}"


def gate_lines(block: Block) -> list[str]:
    """The accuracy gate: parity of the losses, convergence when the run trained to accuracy, and validity."""
    gate = block.get("gate") or {}
    out = []
    parity = gate.get("parity")
    if parity:
        diff, tol = parity.get("max_abs_diff"), parity.get("tolerance")
        sign = "≤" if diff is not None and tol is not None and diff <= tol else ">" if diff is not None else "vs"
        out.append(f"- Parity: {parity.get('verdict') or '–'}, max |Δloss| {_exp(diff)} {sign} {_exp(tol)}"
                   + (f" ({parity['reason']})" if parity.get("reason") else "") + ".")
    conv = gate.get("convergence")
    if conv:
        ok = conv.get("ok")
        out.append(f"- Convergence: open {fmt(conv.get('open_epochs'), 0)} epochs vs closed "
                   f"{fmt(conv.get('closed_epochs'), 0)}, allowed {fmt(conv.get('allowed_epochs'), 0)} → "
                   f"{'–' if ok is None else 'ok' if ok else '**failed**'}"
                   + (f" ({conv['reason']})" if conv.get("reason") else "") + ".")
    closed = block.get("closed_convergence")
    if closed:
        out.append(f"- Closed's own convergence run on this device: target reached in "
                   f"{fmt(closed.get('time_to_accuracy_s'), 1)} s ({fmt(closed.get('epochs_to_accuracy'), 0)} epochs), "
                   "best validation accuracy "
                   f"{fmt(closed.get('best_val_acc'), 4)}, test accuracy {fmt(closed.get('test_acc'), 4)}, "
                   f"{fmt(closed.get('epochs_run'), 0)} epochs run; open's are in the table above.")
    if block.get("valid") is False:
        out.append(f"- **Invalid**: {block.get('reason') or 'the accuracy gate failed'}.")
    return out


def ablation_table(result: Record) -> str:
    """One device's knobs (the ablation), its compile cost and its accuracy gate ("" for a closed result)."""
    block = open_block(result)
    if block is None:
        return ""
    gate = gate_lines(block)
    out = [knob_table(block), "", *isolation_lines(block), *compile_line(block),
           *([""] if block.get("compile") else [])]
    out += ["Accuracy gate:", "", *gate] if gate else []
    return "\n".join(out).rstrip()


def _ratio_line(name: str, section: Mapping[str, Any] | None) -> list[str]:
    if not section:
        return []
    rounds = section.get("rounds")
    method = section.get("ci_method") or (f"{rounds} rounds" if rounds else "")
    return [f"- {name}: open {ratio_cell(section.get('speedup'), section.get('ci95'))} as fast as closed"
            + (f" ({method})" if method else "") + "."]


def device_lines(result: Record) -> list[str]:
    """One device's open-division details: what was applied and why, each in-run ratio, then the ablation."""
    block = open_block(result) or {}
    choice = block.get("choice_reason")
    out = [f"### {result[K_DEVICE]['label']}", "", f"Applied: {_applied(block)}" + (f" — {choice}" if choice else "")
           + ".", ""]
    ratios = [*_ratio_line("Training throughput", block.get("training")),
              *_ratio_line("Batch-1 latency", block.get("inference_batch1")),
              *_ratio_line("Batched throughput", block.get("inference_offline"))]
    return out + ratios + ([""] if ratios else []) + [ablation_table(result), ""]


def division_flags(results: Sequence[Record]) -> list[str]:
    """One warning line per open result that failed its accuracy gate (empty when none did)."""
    return [f"> **{r[K_DEVICE]['label']}: the open result is invalid**: {reason}. Its open figures are of a "
            "different computation: do not compare them with the closed ones."
            for r in open_results(results) if (reason := invalid_reason(r)) is not None]


def division_section(results: Sequence[Record]) -> list[str]:
    """The "open division" section: the rule, the table of devices, then each device's ablation (empty when no
    result is open)."""
    shown = open_results(results)
    if not shown:
        return []
    out = ["## Open division", "", DIVISION_RULE, "", *[line for flag in division_flags(shown) for line in (flag, "")],
           division_table(shown), ""]
    for r in shown:
        out += device_lines(r)
    return out
