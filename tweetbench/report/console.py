"""The terminal: rich progress through phases and steps with an ETA, and the final table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

from tweetbench.records import DeviceResult
from tweetbench.report.markdown import reference_result, speedup

STATUS_STYLE = {"ok": "green", "unavailable": "yellow", "failed": "red", "invalid": "red", "interrupted": "red"}


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


def results_table(results: Sequence[DeviceResult]) -> Table:
    records = [r.to_dict() for r in results]
    base = reference_result(records)
    table = Table(title="tweetbench results")
    for column in ("device", "status", "train /s", "step p50 ms", "b1 p50 ms",
                   "b256 /s", "vs CPU", "bottleneck / reason"):
        table.add_column(column, overflow="fold")
    for r in records:
        train = r["metrics"].get("training") or {}
        infer = r["metrics"].get("inference") or {}
        sp = speedup(r, base)
        table.add_row(
            r["device"]["name"],
            f"[{STATUS_STYLE.get(r['status'], 'white')}]{r['status']}" + (" [yellow](noisy)" if r.get("noisy") else ""),
            f"{train['samples_per_s']:,.0f}" if train else "–",
            f"{train['step_ms']['p50']:.2f}" if train else "–",
            f"{infer['latency_batch1_ms']['p50']:.3f}" if infer else "–",
            f"{infer['offline']['samples_per_s']:,.0f}" if infer else "–",
            f"{sp:.2f}×" if sp else "–",
            (r.get("breakdown") or {}).get("verdict") or r["reason"] or "–",
        )
    return table


def convergence_results_table(results: Sequence[DeviceResult]) -> Table:
    """The final table of a convergence run: time to accuracy, epochs and accuracies per device."""
    table = Table(title="tweetbench convergence")
    for column in ("device", "status", "time to acc", "epochs (best)", "best val acc", "test acc", "reason"):
        table.add_column(column, overflow="fold")
    for r in (result.to_dict() for result in results):
        conv = r["metrics"].get("convergence")
        if conv is None:
            table.add_row(r["device"]["name"], f"[{STATUS_STYLE.get(r['status'], 'white')}]{r['status']}",
                          "–", "–", "–", "–", r["reason"] or "–")
            continue
        tta = f"{conv['time_to_accuracy_s']:.1f} s" if conv["target_reached"] else "not reached"
        table.add_row(
            r["device"]["name"], f"[{STATUS_STYLE.get(r['status'], 'white')}]{r['status']}", tta,
            f"{conv['epochs_run']} ({conv['best_epoch']})",
            f"{conv['best_val_acc']:.4f}" if conv["best_val_acc"] is not None else "–",
            f"{conv['test_acc']:.4f}" if conv["test_acc"] is not None else "–",
            r["reason"] or "–",
        )
    return table
