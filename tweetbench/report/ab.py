"""Pure renderers of an interleaved A/B run (``tweetbench ab``): its Markdown report and terminal tables."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from rich.markup import escape
from rich.table import Table

from tweetbench.analysis.ab import ABComparison
from tweetbench.analysis.compare import RunComparison
from tweetbench.analysis.figures import METRICS
from tweetbench.records.run import AB_ORDER, AB_SIDES, R_AB, R_COMMAND, R_PRESET, R_RUN_ID, R_STATUS
from tweetbench.report.compare import closing_lines, gate_messages, rich_table, verdict_lines

def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return f"{value:,.3f}" if unit == "ms" else f"{value:,.0f}"


def sides_table(section: Mapping[str, Any]) -> list[str]:
    """The two sides' settings, as the run recorded them."""
    lines = ["| side | options | workload | precision | torch threads | data |", "|---|---|---|---|---|---|"]
    for side in ("A", "B"):
        s = section[AB_SIDES][side]
        options = f"`{s.get('options')}`" if str(s.get("options") or "").strip() else "(the common options)"
        lines.append(f"| {side} | {options} | {s.get('workload', '?')} | {s.get('precision', '?')} | "
                     f"{s.get('threads') or 'default'} | {s.get('data') or 'built-in corpus'} |")
    return lines


def _headers(ab: ABComparison) -> list[str]:
    """Each metric's column title, with its batch size where the comparison names it."""
    labels = {row.metric.key: row.label for row in ab.comparison.rows} if ab.comparison else {}
    return [f"{labels.get(m.key, m.label.format(batch='N'))} ({m.unit})" for m in METRICS]


def primary_line(result: RunComparison) -> str:
    """Which metric the gate judges, and how the others are reported."""
    gated = next((row.label for row in result.rows if not row.secondary), result.primary or "every metric")
    return (f"Gated metric: **{gated}** (`--metric {result.primary}`); the other metrics are reported with "
            "Holm-adjusted p-values and decide nothing, so that three tests do not triple the false alarms.")


def order_lines(ab: ABComparison) -> list[str]:
    """Every trial in the order it ran, with its figures, so that drift over the run shows."""
    lines = [f"| # | side | trial | status | {' | '.join(_headers(ab))} |", "|---|---|---|---|" + "---|" * len(METRICS)]
    for t in ab.order:
        figures = " | ".join(_figure(t.figures[m.key], m.unit) for m in METRICS)
        lines.append(f"| {t.position} | {t.side} | {t.trial} | {t.status} | {figures} |")
    return lines


def render_ab_report(meta: Mapping[str, Any], ab: ABComparison) -> str:
    """report.md of an interleaved A/B run: the sides, the verdict table, the trials in run order, the method."""
    section = meta[R_AB]
    pairs = len(section[AB_ORDER]) // 2
    lines = [f"# tweetbench ab {meta[R_RUN_ID]}", ""]
    if meta.get(R_STATUS) != "complete":
        lines += [f"> **This run is {meta.get(R_STATUS)}**: only the trials marked ok below finished.", ""]
    lines += [(f"Interleaved A/B on `{section.get('device', '?')}`: {pairs} trials a side in ABBA order (A B B A A B "
              f"...), each trial a fresh worker process; preset `{meta.get(R_PRESET)}`. Trial k of A and trial k of "
              "B ran side by side and are compared as a pair, so drift of the machine hits both sides alike."), "",
              f"Command: `{shlex.join(meta.get(R_COMMAND) or [])}`", "", *sides_table(section), "", "## Verdict", ""]
    result = ab.comparison
    if result is None:
        lines += [f"Not compared: {ab.problem}.", ""]
    else:
        lines += [primary_line(result), ""]
        lines += verdict_lines(result, "> The sides ran different workload variants, as asked: each ratio compares "
                                       "different work, not only different speed.")
    lines += ["## Trials in run order", "", *order_lines(ab), ""]
    if result is not None:
        lines += closing_lines(result)
    return "\n".join(lines)


def order_table(ab: ABComparison) -> Table:
    """The trials in run order, for the terminal."""
    table = Table(title="trials in run order (ABBA)")
    for column in ("#", "side", "trial", "status", *_headers(ab)):
        table.add_column(column, overflow="fold")
    for t in ab.order:
        table.add_row(str(t.position), t.side, str(t.trial), escape(t.status),
                      *(_figure(t.figures[m.key], m.unit) for m in METRICS))
    return table


def terminal_tables(ab: ABComparison) -> list[Table]:
    """What ``tweetbench ab`` prints: the comparison (when there is one), then the trials in run order."""
    return [*([rich_table(ab.comparison)] if ab.comparison is not None else []), order_table(ab)]


def messages(ab: ABComparison, *, interrupted: bool) -> list[str]:
    """The lines for stderr: why nothing was compared, or the gate's decision; and an interruption."""
    lines = [f"tweetbench: not compared: {ab.problem}"] if ab.comparison is None else gate_messages(ab.comparison)
    return lines + (["tweetbench: the run was interrupted; it is marked incomplete"] if interrupted else [])
