"""How a figure or a text is written into a Markdown table cell, the same way in every report."""

from __future__ import annotations


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """``value`` with thousands separators and ``digits`` decimals, then ``unit``; an en dash for None."""
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def table_cell(text: object) -> str:
    """Text for a Markdown table cell: one line, a pipe escaped (either would end the cell or the row)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def pct(value: float | None) -> str:
    """A share (0.25) as a percentage with one decimal (25.0%); an en dash for None."""
    return "–" if value is None else f"{value * 100:.1f}%"
