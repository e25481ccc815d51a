"""Pure renderers of a ``tweetbench compare`` result: Markdown text and a rich table."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from tweetbench.analysis.compare import Row, RunComparison
from tweetbench.analysis.gate import UNDECIDED_EXIT

VERDICT_STYLE = {"faster": "green", "slower": "red", "no significant difference": "dim", "unresolved": "yellow",
                 "cannot show": "yellow"}


def _value(x: float, unit: str) -> str:
    return f"{x:,.3f} {unit}" if unit == "ms" else f"{x:,.0f} {unit}"


def _num(x: float) -> str:
    # Three decimals as a rule; a t interval of two pairs can span six orders of magnitude.
    return f"{x:.3f}" if 1e-3 <= abs(x) < 1e3 else f"{x:.3g}"


def _interval(ratio: float, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return f"{_num(ratio)} [–]"
    return f"{_num(ratio)} [{_num(low)}, {_num(high)}]"


def _ratio(row: Row) -> str:
    """B/A from the trials, with its interval: what the verdict rests on."""
    return _interval(row.trials.ratio, row.trials.low, row.trials.high)


def _steps(row: Row) -> str:
    """The per-step detail: ratio of the pooled per-step medians, its bootstrap interval and Mann-Whitney p."""
    return f"{_interval(row.steps.ratio, row.steps.low, row.steps.high)}, p {row.steps.p_value:.2g}"


def _counts(row: Row) -> str:
    kind = "pairs" if row.trials.design == "paired" else "trials"
    return f"{row.trial_counts[0]} vs {row.trial_counts[1]} {kind}"


def _p(row: Row) -> str:
    if row.trials.p_value is None:
        return f"– (≥ {row.trials.smallest_p:.2g})"
    text = f"{row.trials.p_value:.2g}"
    return text + (f" (Holm {row.p_adjusted:.2g})" if row.p_adjusted is not None else "")


GATE_WORDS = {"pass": "passes the gate", "regression": "REGRESSION", "unresolved": "unresolved at the bound",
              "drift": "beyond the bound, within the drift", "cannot show": "gate cannot decide"}


def _verdict(row: Row) -> str:
    if row.verdict == "cannot show":
        return f"cannot show: {row.note}"
    text = row.verdict
    if row.verdict in ("faster", "slower"):
        text += f" ({abs(row.change):.1%})"
    if row.gate:
        text += f" — {GATE_WORDS[row.gate]}"
    elif row.secondary:
        text += " (secondary, not gated)"
    return text


def regression_lines(result: RunComparison) -> list[str]:
    """One line per gated metric whose whole interval lies beyond the gate's bound."""
    assert result.bound is not None or not result.regressions
    return [f"{row.device} {row.label}: {abs(row.change):.1%} worse (B/A {row.ratio:.3f}); {row.gate_reason}"
            for row in result.regressions]


def undecided_lines(result: RunComparison) -> list[str]:
    """One line per gated metric the gate could not decide, with why."""
    return [f"{row.device} {row.label}: {row.gate}: {row.gate_reason}" for row in result.undecided]


def gate_messages(result: RunComparison) -> list[str]:
    """The gate's decision for stderr: one line per regression, or why it could not decide."""
    lines = [f"tweetbench: regression: {line}" for line in regression_lines(result)]
    if result.exit_code == UNDECIDED_EXIT:
        lines.append(f"tweetbench: the regression gate cannot decide (exit {UNDECIDED_EXIT}): "
                     + "; ".join(undecided_lines(result)))
    return lines


def gate_lines(result: RunComparison) -> list[str]:
    """What the regression gate decided, in words (empty without a gate)."""
    if result.bound is None:
        return []
    if result.regressions:
        return ["**Regressions beyond the gate** (whole interval beyond the bound):", ""] + [
            f"- {line}" for line in regression_lines(result)]
    text = f"No gated metric lies wholly beyond {result.bound:.1%} worse"
    if result.undecided:
        return [text + f"; the gate cannot pass these either (exit {result.exit_code}):", ""] + [
            f"- {line}" for line in undecided_lines(result)]
    return [text + "; every gated interval lies within the bound."]


def detectable_lines(result: RunComparison) -> list[str]:
    """The smallest change each gated metric can show at its measured spread (pyperf-style)."""
    lines = [f"- {row.device} {row.label}: {row.trials.detectable}" for row in result.rows
             if row.trials.detectable and not row.secondary]
    return ["Smallest detectable change (t-test power at the measured spread):", "", *lines, ""] if lines else []


def table_lines(result: RunComparison) -> list[str]:
    """The comparison's Markdown table, one row per device and metric."""
    lines = [("| device | metric | A (median of trials) | B (median of trials) | B/A [95% CI] | p (exact, trials) "
              "| trials | verdict | per-step B/A [within-trial, correlated], p (detail) |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for row in result.rows:
        unit = row.metric.unit
        lines.append(f"| {row.device} | {row.label} ({unit}) | {_value(row.a_median, unit)} | "
                     f"{_value(row.b_median, unit)} | {_ratio(row)} | {_p(row)} | {_counts(row)} | "
                     f"**{_verdict(row)}** | {_steps(row)} |")
    return lines


def verdict_lines(result: RunComparison, different_workloads: str) -> list[str]:
    """The table and the gate's decision, after ``different_workloads`` when the sides measured different work."""
    lines = [different_workloads, ""] if result.workloads_differ else []
    gate = gate_lines(result)
    return [*lines, *table_lines(result), "", *([*gate, ""] if gate else []), *detectable_lines(result)]


def closing_lines(result: RunComparison) -> list[str]:
    """The notes, then the method."""
    notes = ["Notes:", "", *(f"- {note}" for note in result.notes), ""] if result.notes else []
    return [*notes, f"Method: {result.method}", ""]


def render_markdown(result: RunComparison) -> str:
    """The comparison as a Markdown document: the table, the gate, the notes, and the method."""
    lines = ["# tweetbench compare", "", f"- A: `{result.a}`", f"- B: `{result.b}`", ""]
    lines += verdict_lines(result, "> **Warning: A and B measured different workloads** (`--allow-different-workloads`)"
                                   ": the ratios mix different work with different speed.")
    return "\n".join(lines + closing_lines(result))


def _short_verdict(row: Row) -> str:
    """The verdict for a narrow terminal column: the reason a verdict cannot be shown goes to the caption."""
    return "cannot show" if row.verdict == "cannot show" else _verdict(row)


def rich_table(result: RunComparison) -> Table:
    """The comparison as a rich table for the terminal; the reasons, notes and method go in the caption (the
    per-step detail is in the Markdown, ``--markdown``)."""
    table = Table(title=escape(f"tweetbench compare: B = {result.b} vs A = {result.a}"), caption_justify="left")
    for column in ("device", "metric", "A", "B", "B/A [95% CI]", "p (trials)", "trials", "verdict"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        unit = row.metric.unit
        style = "bold red" if row.regression else VERDICT_STYLE[row.verdict]
        table.add_row(escape(row.device), escape(f"{row.label} ({unit})"), _value(row.a_median, unit),
                      _value(row.b_median, unit), _ratio(row), _p(row), _counts(row),
                      f"[{style}]{escape(_short_verdict(row))}")
    reasons = dict.fromkeys(f"cannot show: {row.note}" for row in result.rows if row.verdict == "cannot show")
    detectable = [f"{row.device} {row.label}: {row.trials.detectable}" for row in result.rows
                  if row.trials.detectable and not row.secondary]
    caption = [escape(f"! {line}") for line in [*reasons, *result.notes]] + [escape(line) for line in detectable]
    if result.workloads_differ:
        caption.insert(0, "! A and B measured different workloads (--allow-different-workloads)")
    table.caption = "\n".join([*caption, escape(result.method)])
    return table
