"""The terminal: rich progress through phases and steps with an ETA, and the final table.

Without a terminal (a CI log, ``make run | tee``) a live display would print nothing until the end, so
``progress_display`` gives ``PlainProgress`` instead: one plain line per device phase with the elapsed
time, and no ANSI codes. The final tables fit ``TABLE_WIDTH`` columns; a long reason is cut with "…"
(its full text is in summary.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from tweetbench.records import K_BREAKDOWN, K_DEVICE, K_METRICS, K_NOISY, K_REASON, K_STATUS, DeviceResult, Record
from tweetbench.report.interference import status_note
from tweetbench.report.markdown import reference_result, speedup

STATUS_STYLE = {"ok": "green", "unavailable": "yellow", "failed": "red", "invalid": "red", "interrupted": "red"}
TABLE_WIDTH = 100


class RunProgress:
    """One progress bar per device, re-based at each phase so its ETA is the phase's."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.fields[device]:<8}"),
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def on_event(self, device: str, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "device-start":
            self.tasks[device] = self.progress.add_task("starting", total=None, device=device)
            return
        task = self.tasks.get(device)
        if task is None:
            return
        if kind == "phase":
            self.progress.reset(task, total=event.get("total") or None, description=str(event.get("name")))
        elif kind == "step":
            self.progress.update(task, completed=int(event.get("done", 0)))
        elif kind == "device-end":
            status = str(event.get("status"))
            style = STATUS_STYLE.get(status, "white")
            current = self.progress.tasks[self.tasks[device]]
            self.progress.update(task, description=f"[{style}]{status}", total=current.total or 1,
                                 completed=current.total or 1)


class PlainProgress:
    """Progress for a log rather than a terminal: one plain line per device phase, with the time elapsed
    since the device started, and a line when it starts and ends. Step events print nothing."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.started: dict[str, float] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def _line(self, device: str, what: str, now: float) -> None:
        elapsed = now - self.started.get(device, now)
        self.stream.write(f"tweetbench: {device:<8} {what:<32} elapsed {elapsed:7.1f} s\n")
        self.stream.flush()

    def on_event(self, device: str, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind not in ("device-start", "phase", "device-end"):
            return  # a step: a log gets no line per step
        now = self.clock()
        if kind == "device-start":
            self.started[device] = now
            self._line(device, "started", now)
        elif kind == "phase":
            total = event.get("total")
            self._line(device, f"{event.get('name')}" + (f" ({total} steps)" if total else ""), now)
        elif kind == "device-end":
            self._line(device, f"{event.get('status')}", now)


def progress_display() -> RunProgress | PlainProgress:
    """The live rich display on a terminal; plain lines when stdout or stderr is not one (the lines go to
    the stream that is not a terminal, stderr first, so that ``| tee`` and ``2> log`` both keep them)."""
    stderr, stdout = Console(stderr=True), Console()
    if stderr.is_terminal and stdout.is_terminal:
        return RunProgress(stderr)
    return PlainProgress(sys.stdout if stderr.is_terminal else sys.stderr)


def table_console(file: TextIO | None = None) -> Console:
    """A console for the final tables: at most ``TABLE_WIDTH`` columns, the full width when not a terminal
    (rich would otherwise squeeze a log's table into 80)."""
    probe = Console(file=file)
    return Console(file=file, width=min(probe.width, TABLE_WIDTH) if probe.is_terminal else TABLE_WIDTH)


def _status(r: Record) -> Text:
    text = Text(r[K_STATUS], style=STATUS_STYLE.get(r[K_STATUS], "white"))
    if r.get(K_NOISY):
        text.append(" (noisy)", style="yellow")
    note = status_note(r)
    return text.append(f" ({note})", style="yellow") if note else text


def fitted_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str | Text]],
                 width: int = TABLE_WIDTH) -> Table:
    """A table ``width`` columns wide at most, whose columns keep their cells whole, except the last (a
    reason, a verdict), which takes what is left and cuts a long text with "…"."""
    table = Table(title=title)
    used = len(headers) + 1  # the vertical borders
    for i, header in enumerate(headers[:-1]):
        cells = [Text(row[i]) if isinstance(row[i], str) else row[i] for row in rows]
        widest = max([cell.cell_len for cell in cells] + [len(word) for word in header.split()])
        table.add_column(header, width=widest)  # a header may wrap between words, a cell never
        used += widest + 2  # and the padding either side
    longest = max([Text(row[-1]).cell_len if isinstance(row[-1], str) else row[-1].cell_len for row in rows]
                  + [len(headers[-1])])
    table.add_column(headers[-1], no_wrap=True, overflow="ellipsis", width=max(min(longest, width - used - 2), 8))
    for row in rows:
        table.add_row(*row)
    return table


def results_table(results: Sequence[DeviceResult], width: int = TABLE_WIDTH) -> Table:
    """The final table of a benchmark run (see ``fitted_table``)."""
    records = [r.to_dict() for r in results]
    base = reference_result(records)
    rows = []
    for r in records:
        train = r[K_METRICS].get("training") or {}
        infer = r[K_METRICS].get("inference") or {}
        sp = speedup(r, base)
        rows.append([
            r[K_DEVICE]["name"],
            _status(r),
            f"{train['samples_per_s']:,.0f}" if train else "–",
            f"{train['step_ms']['p50']:.2f}" if train else "–",
            f"{infer['latency_batch1_ms']['p50']:.3f}" if infer else "–",
            f"{infer['offline']['samples_per_s']:,.0f}" if infer else "–",
            f"{sp:.2f}×" if sp else "–",
            (r.get(K_BREAKDOWN) or {}).get("verdict") or r[K_REASON] or "–",
        ])
    return fitted_table("tweetbench results", ("device", "status", "train /s", "step p50 ms", "b1 p50 ms", "b256 /s",
                                               "vs CPU", "bottleneck / reason"), rows, width)


def convergence_results_table(results: Sequence[DeviceResult], width: int = TABLE_WIDTH) -> Table:
    """The final table of a convergence run: time to accuracy, epochs and accuracies per device."""
    rows = []
    for r in (result.to_dict() for result in results):
        conv = r[K_METRICS].get("convergence")
        if conv is None:
            rows.append([r[K_DEVICE]["name"], _status(r), "–", "–", "–", "–", r[K_REASON] or "–"])
            continue
        tta = f"{conv['time_to_accuracy_s']:.1f} s" if conv["target_reached"] else "not reached"
        rows.append([
            r[K_DEVICE]["name"], _status(r), tta, f"{conv['epochs_run']} ({conv['best_epoch']})",
            f"{conv['best_val_acc']:.4f}" if conv["best_val_acc"] is not None else "–",
            f"{conv['test_acc']:.4f}" if conv["test_acc"] is not None else "–",
            r[K_REASON] or "–",
        ])
    return fitted_table("tweetbench convergence", ("device", "status", "time to acc", "epochs (best)", "best val acc",
                                                   "test acc", "reason"), rows, width)
