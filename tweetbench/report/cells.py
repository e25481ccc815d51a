"""How a figure, a time or a text is written into a report, the same way in every report: table cells and rows,
the pieces every run report shares (its heading, its workload and environment lines), and the frame around them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.records import K_ENVIRONMENT, K_WORKLOAD, Record
from tweetbench.records.run import R_COMMAND, R_RUN_ID, R_STATUS


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """``value`` with thousands separators and ``digits`` decimals, then ``unit``; an en dash for None."""
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def table_cell(text: object) -> str:
    """Text for a Markdown table cell: one line, a pipe escaped (either would end the cell or the row)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table_row(*cells: object) -> str:
    """A Markdown table row of ``cells``, each written as it is (pass it through ``table_cell`` where it may hold
    a pipe or a line break)."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def pct(value: float | None) -> str:
    """A share (0.25) as a percentage with one decimal (25.0%); an en dash for None."""
    return "–" if value is None else f"{value * 100:.1f}%"


def when(timestamp: float | None) -> str:
    """A Unix time as ``2026-01-31 14:05 UTC``; an en dash for None."""
    if timestamp is None:
        return "–"
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def short_fingerprint(fingerprint: str | None) -> str:
    """A workload fingerprint cut to what a reader compares by eye (``sha256:`` and 12 digits), in code quotes."""
    return f"`{fingerprint[:19]}…`" if fingerprint else "–"


def workload_line(results: Sequence[Record], fallback: object = None) -> str:
    """``Workload: <names> (fingerprint <short ones>)`` of a run's results (``fallback`` names it when none ran)."""
    names = sorted({str(r[K_WORKLOAD]["name"]) for r in results}) or [str(fallback)]
    prints = sorted({short_fingerprint(r[K_WORKLOAD].get("fingerprint")) for r in results} - {"–"})
    return f"Workload: {', '.join(names)} (fingerprint {', '.join(prints) or '–'})"


def environment_line(r: Record) -> str:
    """The machine and the software stack a result was measured on, in one sentence."""
    env: Mapping[str, Any] = r.get(K_ENVIRONMENT) or {}
    return (f"Environment: {env.get('cpu_model', '?')}, {env.get('cpu_cores_logical', '?')} logical cores, "
            f"{env.get('torch_threads', '?')} torch threads; Python {env.get('python', '?')}, torch "
            f"{env.get('torch', '?')}, Lightning {env.get('pytorch_lightning', '?')}"
            + (f", torch_xla {env['torch_xla']}" if env.get("torch_xla") else "") + ".")


def run_document(title: str, meta: Mapping[str, Any], about: str, body: Sequence[str],
                 devices: Sequence[str]) -> str:
    """A run's ``report.md``: ``# <title> <run id>``, a warning when the run did not complete, ``about`` (what ran,
    when), the command, the ``body`` lines, then a ``## Devices`` section holding each device's text."""
    status = meta.get(R_STATUS, "?")
    lines = [f"# {title} {meta[R_RUN_ID]}", ""]
    if status != "complete":
        lines += [f"> **This run is {status}**: only the devices listed below finished.", ""]
    lines += [about, "", f"Command: `{' '.join(meta.get(R_COMMAND) or [])}`", "", *body, "## Devices", ""]
    lines += [device + "\n" for device in devices]
    return "\n".join(lines).rstrip() + "\n"
