"""Pure renderers of a ``tweetbench compare`` result: Markdown text and a rich table."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from tweetbench.analysis.compare import Row, RunComparison

VERDICT_STYLE = {"faster": "green", "slower": "red", "no significant difference": "dim"}


def _value(x: float, unit: str) -> str:
    return f"{x:,.3f} {unit}" if unit == "ms" else f"{x:,.0f} {unit}"


def _ratio(row: Row) -> str:
    return f"{row.steps.ratio:.3f} [{row.steps.low:.3f}, {row.steps.high:.3f}]"


def _trials(row: Row) -> str:
    if row.trials is None:
        return f"– ({row.trial_counts[0]} vs {row.trial_counts[1]} trials)"
    return (f"{row.trials.ratio:.3f} [{row.trials.low:.3f}, {row.trials.high:.3f}] "
            f"({row.trial_counts[0]} vs {row.trial_counts[1]})")


def _verdict(row: Row) -> str:
    text = row.verdict
    if row.verdict != "no significant difference":
        text += f" ({abs(row.change):.1%})"
    if row.regression:
        text += " — REGRESSION"
    return text


def _p(row: Row) -> str:
    return f"{row.steps.p_value:.2g}"


def regression_lines(result: RunComparison) -> list[str]:
    """One line per significant slowdown beyond the gate's bound."""
    assert result.bound is not None or not result.regressions
    return [f"{row.device} {row.label}: {abs(row.change):.1%} worse (B/A {row.ratio:.3f}) > {result.bound:.1%}"
            for row in result.regressions]


def render_markdown(result: RunComparison) -> str:
    """The comparison as a Markdown document: the table, the notes, and the method."""
    lines = ["# tweetbench compare", "", f"- A: `{result.a}`", f"- B: `{result.b}`", ""]
    if result.workloads_differ:
        lines += ["> **Warning: A and B measured different workloads** (`--allow-different-workloads`): the "
                  "ratios mix different work with different speed.", ""]
    lines += ["| device | metric | A median | B median | B/A [95% CI] | p (Mann-Whitney) | trial medians B/A [95% CI] "
              "| verdict | note |", "|---|---|---|---|---|---|---|---|---|"]
    for row in result.rows:
        unit = row.metric.unit
        lines.append(f"| {row.device} | {row.label} ({unit}) | {_value(row.a_median, unit)} | "
                     f"{_value(row.b_median, unit)} | {_ratio(row)} | {_p(row)} | {_trials(row)} | "
                     f"**{_verdict(row)}** | {row.note or '–'} |")
    lines.append("")
    if result.regressions:
        lines += ["**Regressions beyond the gate:**", ""] + [f"- {line}" for line in regression_lines(result)] + [""]
    elif result.bound is not None:
        lines += [f"No significant slowdown beyond {result.bound:.1%}.", ""]
    if result.notes:
        lines += ["Notes:", ""] + [f"- {note}" for note in result.notes] + [""]
    lines += [f"Method: {result.method}", ""]
    return "\n".join(lines)


def rich_table(result: RunComparison) -> Table:
    """The comparison as a rich table for the terminal (notes and method go in the caption)."""
    table = Table(title=escape(f"tweetbench compare: B = {result.b} vs A = {result.a}"), caption_justify="left")
    for column in ("device", "metric", "A median", "B median", "B/A [95% CI]", "p", "trials B/A [95% CI]",
                   "verdict"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        unit = row.metric.unit
        style = "bold red" if row.regression else VERDICT_STYLE[row.verdict]
        verdict = escape(_verdict(row)) + (f"\n[dim]{escape(row.note)}" if row.note else "")
        table.add_row(escape(row.device), escape(f"{row.label} ({unit})"), _value(row.a_median, unit),
                      _value(row.b_median, unit), _ratio(row), _p(row), _trials(row), f"[{style}]{verdict}")
    caption = [escape(f"! {note}") for note in result.notes]
    if result.workloads_differ:
        caption.insert(0, "! A and B measured different workloads (--allow-different-workloads)")
    table.caption = "\n".join([*caption, escape(result.method)])
    return table
