"""``tweetbench ab``: two configurations of one device, trial by trial in ABBA order, in one run.

Runs made at different times cannot tell drift of the machine (another tenant, a clock, a thermal
state) from a change. Here the trials of A and B alternate A B B A A B B A ..., each in a fresh worker
process, so whatever drifts hits both sides alike, and trial k of A and trial k of B share one pair
of neighbouring slots; ``analysis.ab`` compares them pair by pair. The run directory holds:

    run.json                      kind "ab": the sides' options and folders, the run order, the gate and its metric
    a/<device>.json               side A's trials aggregated (analysis.trials.aggregate)
    a/trials/<device>.trial<k>.json   each trial of A; a/logs/, a/work/ as for a device of a run
    b/...                         the same for B
    report.md                     the verdict, the ratio with its interval, and every trial in run order
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tweetbench.analysis.ab import AB_METRIC, DEFAULT_METRIC, SIDES, ABComparison
from tweetbench.analysis.trials import aggregate
from tweetbench.devices import DeviceSpec
from tweetbench.errors import ResultsError
from tweetbench.launch.interrupt import Interrupt
from tweetbench.launch.options import EventFn, RunOptions
from tweetbench.launch.suite import DeviceFiles, run_device_process
from tweetbench.records import DeviceResult, dumps
from tweetbench.records.files import ensure_writable_dir, write_atomic
from tweetbench.records.run import AB_DIR, AB_GATE, AB_ORDER, AB_SIDES, RunStatus, new_run_dir, run_meta, write_meta
from tweetbench.report.writer import load_ab, regenerate_ab

Side = Literal["A", "B"]
_PATTERN: tuple[Side, ...] = ("A", "B", "B", "A")


def abba_order(repeats: int) -> tuple[Side, ...]:
    """The run order of ``repeats`` trials a side: A B B A A B B A ... (2 x ``repeats`` long).

    Every pair of neighbouring slots (1-2, 3-4, ...) holds one A and one B, and the k-th A and the
    k-th B share the k-th pair; who goes first alternates, so a steady trend favours neither side.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    return tuple(_PATTERN[i % len(_PATTERN)] for i in range(2 * repeats))


@dataclass(frozen=True)
class ABOptions:
    """What ``tweetbench ab`` was asked to do: one device, each side's run options, the gate."""

    device: DeviceSpec
    sides: Mapping[Side, RunOptions]  # each side's options (one device, one workload variant, repeats a side)
    texts: Mapping[Side, str]  # each side's option string as the user wrote it
    repeats: int
    out: Path
    command: tuple[str, ...]
    bound: float | None = None
    metric: str = DEFAULT_METRIC  # the one metric the gate judges (a key of figures.METRICS)

    def section(self, order: tuple[Side, ...]) -> dict[str, Any]:
        """run.json's ``ab`` section: each side's options, settings and folder; the run order; the gate."""
        sides = {side: {AB_DIR: side.lower(), "options": self.texts[side],
                        "workload": options.workload.name, "precision": options.workload.precision,
                        "threads": options.threads,
                        "data": None if options.data.path is None else str(options.data.path)}
                 for side, options in self.sides.items()}
        return {"device": self.device.name, AB_SIDES: sides, AB_ORDER: list(order), AB_GATE: self.bound,
                AB_METRIC: self.metric}

    def meta(self, run_id: str, started: float, status: RunStatus, order: tuple[Side, ...]) -> dict[str, Any]:
        a = self.sides["A"]
        return run_meta(run_id=run_id, started=started, status=status, devices=[self.device.name],
                        workload=a.workload.name, preset=a.preset.name, scenario="benchmark", command=self.command,
                        repeats=self.repeats, kind="ab", ab=self.section(order))


@dataclass
class ABOutcome:
    run_id: str
    run_dir: Path
    comparison: ABComparison
    complete: bool

    @property
    def exit_code(self) -> int:
        """130 when interrupted; else the comparison's: 1 for a failed trial or a resolved regression beyond the
        gate, ``gate.UNDECIDED_EXIT`` when the gate cannot decide, 0 otherwise."""
        return 130 if not self.complete else self.comparison.exit_code


def _side_events(on_event: EventFn, side: Side, trial: int, repeats: int) -> EventFn:
    """Progress lines per side ("cpu A"), their phases tagged with the trial ("train 2/6")."""
    def tagged(device: str, event: dict[str, Any]) -> None:
        if event.get("event") == "phase":
            event = {**event, "name": f"{event.get('name')} {trial}/{repeats}"}
        on_event(f"{device} {side}", event)

    return tagged


def _run_trials(options: ABOptions, order: tuple[Side, ...], run_id: str, run_dir: Path, on_event: EventFn,
                interrupt: Interrupt) -> dict[Side, list[DeviceResult]]:
    """Run the trials in ``order`` until all are done, one is not ok, or an interrupt; each side's results."""
    results: dict[Side, list[DeviceResult]] = {side: [] for side in SIDES}  # type: ignore[misc]
    for side in SIDES:
        (run_dir / side.lower()).mkdir(exist_ok=True)
        on_event(f"{options.device.name} {side}", {"event": "device-start"})
    for side in order:
        trial = len(results[side]) + 1
        result = run_device_process(options.sides[side], options.device, run_id, run_dir / side.lower(),
                                    _side_events(on_event, side, trial, options.repeats), interrupt, trial=trial)
        if result is None:
            break  # interrupted
        results[side].append(result)
        if result.status != "ok":
            break  # a trial that failed ends the run: the later ones would not be comparable pairs
    return results


def _write_sides(options: ABOptions, run_dir: Path, results: Mapping[Side, list[DeviceResult]],
                 on_event: EventFn) -> None:
    """Each side's trials aggregated into ``<side>/<device>.json``."""
    for side in SIDES:
        done = results[side]
        if done:
            files = [DeviceFiles.of(run_dir / side.lower(), options.device, k).relative_result
                     for k in range(1, len(done) + 1)]
            combined = aggregate(done, files, options.repeats)
            write_atomic(DeviceFiles.of(run_dir / side.lower(), options.device).result, dumps(combined))
        status = done[-1].status if done else "interrupted"
        on_event(f"{options.device.name} {side}", {"event": "device-end", "status": status})


def run_ab(options: ABOptions, on_event: EventFn = lambda device, event: None) -> ABOutcome:
    """Run both sides of an interleaved A/B, write the run directory and its report, and compare."""
    ensure_writable_dir(options.out)
    order = abba_order(options.repeats)
    run_id, run_dir = new_run_dir(options.out)
    started = time.time()
    write_meta(run_dir, options.meta(run_id, started, "running", order))
    with Interrupt() as interrupt:
        try:
            results = _run_trials(options, order, run_id, run_dir, on_event, interrupt)
            _write_sides(options, run_dir, results, on_event)
            ran = sum(len(done) for done in results.values())
            complete = ran == len(order) and not interrupt.requested
            write_meta(run_dir, options.meta(run_id, started, "complete" if complete else "incomplete", order))
            regenerate_ab(run_dir)
        except BaseException:
            if interrupt.worker is not None:
                interrupt.worker.kill()
            with contextlib.suppress(ResultsError):
                write_meta(run_dir, options.meta(run_id, started, "incomplete", order))
            raise
    _, comparison = load_ab(run_dir)
    return ABOutcome(run_id, run_dir, comparison, not interrupt.requested)
