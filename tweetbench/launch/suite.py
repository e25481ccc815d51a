"""Run each device in its own worker process, with a timeout, and collect the results into a run.

A device that crashes, hangs or runs out of memory costs only its own result: the worker is
killed and a ``failed`` result with the last lines of its error is written in its place.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweetbench.analysis import scaling
from tweetbench.analysis.trials import aggregate
from tweetbench.config import DeviceJob, ParallelPlan
from tweetbench.devices import DeviceSpec
from tweetbench.errors import ResultsError
from tweetbench.harness.server import stop_groups_left
from tweetbench.launch.failures import failure_reason
from tweetbench.launch.interrupt import Interrupt
from tweetbench.launch.job import job_to_dict
from tweetbench.launch.options import EventFn, RunOptions, RunOutcome
from tweetbench.launch.process import Worker, describe_exit, log_tail
from tweetbench.records import (
    DeviceResult,
    dumps,
    new_result,
    read_result,
    workload_section,
)
from tweetbench.records.files import ensure_writable_dir, write_atomic
from tweetbench.records.run import new_run_dir, write_meta
from tweetbench.report.writer import write_run_reports

TRIALS_DIR = "trials"


@dataclass(frozen=True)
class DeviceFiles:
    """Where one trial of one device keeps its files in the run directory."""

    run_dir: Path
    stem: str
    trial: int

    @classmethod
    def of(cls, run_dir: Path, spec: DeviceSpec, trial: int = 0) -> DeviceFiles:
        """``trial`` 0 is the device's own result; trial k >= 1 lives under ``trials/``."""
        return cls(run_dir, spec.file_stem if trial == 0 else f"{spec.file_stem}.trial{trial}", trial)

    @property
    def result(self) -> Path:
        return self.run_dir / (f"{self.stem}.json" if self.trial == 0 else f"{TRIALS_DIR}/{self.stem}.json")

    @property
    def relative_result(self) -> str:
        return self.result.relative_to(self.run_dir).as_posix()

    @property
    def work(self) -> Path:
        return self.run_dir / "work"

    @property
    def job(self) -> Path:
        return self.work / f"{self.stem}.job.json"

    @property
    def log(self) -> Path:
        return self.run_dir / "logs" / f"{self.stem}.log"

    def make_dirs(self) -> None:
        for path in (self.work, self.result.parent, self.log.parent):
            path.mkdir(exist_ok=True)


def result_path(run_dir: Path, spec: DeviceSpec) -> Path:
    """Where a device's result is written in its run directory."""
    return DeviceFiles.of(run_dir, spec).result


def failed_result(options: RunOptions, spec: DeviceSpec, run_id: str, reason: str,
                  error_tail: list[str]) -> DeviceResult:
    """The result written in place of a worker that died, hung or wrote nothing valid."""
    job = DeviceJob(spec.name, options.workload, options.preset, options.data, options.scenario)  # type: ignore[arg-type]
    return new_result(
        run_id=run_id,
        device={"name": spec.name, "kind": spec.kind, "label": spec.name, "hardware": "unknown"},
        status="failed",
        reason=reason,
        workload=workload_section(job, None, None),
        environment={},
        command=list(options.command),
        error_tail=error_tail,
        scenario=options.scenario,
    )


def _start_worker(options: RunOptions, spec: DeviceSpec, run_id: str, files: DeviceFiles, on_event: EventFn,
                  env: Mapping[str, str] | None) -> tuple[Worker, DeviceJob]:
    files.make_dirs()
    job = DeviceJob(spec.name, options.workload, options.preset, options.data,
                    options.scenario, options.profile and files.trial <= 1, files.trial,  # type: ignore[arg-type]
                    parallel=options.parallel_plan(spec), **options.worker_settings())
    write_atomic(files.job, json.dumps(job_to_dict(job, run_id=run_id, run_dir=files.run_dir,
                                                   result_path=files.result, command=list(options.command))))
    return Worker(files.job, files.log, lambda event: on_event(spec.name, event), env), job


def _how_it_ended(code: int | None, timeout_s: float, files: DeviceFiles) -> tuple[DeviceResult | None, str]:
    """The worker's result, or (None, how it ended without one): timed out, died, or wrote none valid."""
    if code is None:
        return None, f"timed out after {timeout_s:.0f} s (raise it with --timeout)"
    if code != 0:
        return None, describe_exit(code)
    try:
        return read_result(files.result), ""
    except ResultsError as exc:
        return None, f"worker wrote no valid result: {exc.message}"


def _failure(ended: str, tail: list[str], files: DeviceFiles, plan: ParallelPlan | None) -> str:
    """Why a worker left no result: how it ended, its log's last line, and the rank that failed first."""
    last = next((line for line in reversed(tail) if line.strip()), "")
    reason = f"{ended}: {last}" if last else ended
    if plan is not None:
        reason = failure_reason(files.work, files.stem, reason, plan.world_size)
    return reason


def run_device_process(options: RunOptions, spec: DeviceSpec, run_id: str, run_dir: Path,
                       on_event: EventFn, interrupt: Interrupt | None = None, *,
                       trial: int = 0, env: Mapping[str, str] | None = None) -> DeviceResult | None:
    """Run one device in a worker process and return its result, or a ``failed`` one in its place.

    ``trial`` 0 writes ``<device>.json``; trial k >= 1 writes ``trials/<device>.trial<k>.json``, and
    only trial 1 runs the profiled passes (the breakdown is not a headline figure).
    """
    files = DeviceFiles.of(run_dir, spec, trial)
    worker, job = _start_worker(options, spec, run_id, files, on_event, env)
    if interrupt is not None:
        interrupt.worker = worker
        if interrupt.requested:  # the signal came while the worker was starting
            worker.kill()
    timeout_s = options.timeout_for(spec)
    code = worker.wait(timeout_s)
    for pgid in stop_groups_left(files.work):  # a server the killed worker could not stop itself
        print(f"tweetbench: {spec.name}: stopped the server its worker left running (process group {pgid})",
              file=sys.stderr, flush=True)
    if interrupt is not None:
        interrupt.worker = None
        if interrupt.requested:
            return None  # interrupted: this device did not finish, so it has no result
    result, ended = _how_it_ended(code, timeout_s, files)
    if result is not None:
        return result
    tail = log_tail(files.log)
    result = failed_result(options, spec, run_id, _failure(ended, tail, files, job.parallel), tail)
    write_atomic(files.result, dumps(result))
    return result


def attach_scaling(options: RunOptions, spec: DeviceSpec, result: DeviceResult, earlier: list[DeviceResult],
                 run_dir: Path) -> DeviceResult:
    """A data-parallel result with its scaling efficiency against the scaling reference."""
    plan = options.parallel_plan(spec)
    assert plan is not None
    if options.scaling_reference is not None:
        reference, source = scaling.given_reference(options.scaling_reference, spec.kind)
    else:
        reference, source = scaling.pick_reference(earlier, spec.kind), "this run"
    result = scaling.finish_result(result, plan_section(plan, options.workload.batch_size), reference, source)
    write_atomic(result_path(run_dir, spec), dumps(result))
    return result


def plan_section(plan: ParallelPlan, per_device_batch: int) -> dict[str, Any]:
    """The ``distributed`` section of a data-parallel run that measured nothing."""
    return scaling.parallel_section(plan.strategy, plan.world_size, plan.num_nodes, plan.devices, per_device_batch,
                                    scaling.PENDING)


def _trial_events(on_event: EventFn, trial: int, repeats: int) -> EventFn:
    """Tag phase names with the trial ("train 2/3") so the progress bar says which trial runs."""
    if repeats == 1:
        return on_event

    def tagged(device: str, event: dict[str, Any]) -> None:
        if event.get("event") == "phase":
            event = {**event, "name": f"{event.get('name')} {trial}/{repeats}"}
        on_event(device, event)

    return tagged


def run_device_trials(options: RunOptions, spec: DeviceSpec, run_id: str, run_dir: Path,
                      on_event: EventFn, interrupt: Interrupt | None = None) -> DeviceResult | None:
    """Run ``options.repeats`` trials of one device, each in a fresh worker process, and write their
    aggregate as ``<device>.json`` (see ``analysis/trials.py``). Stops at the first trial that is not
    ok (an unavailable device is not retried); None if the run was interrupted. A single trial is the
    device's result: its worker writes ``<device>.json`` itself, and no ``trials/`` file is written."""
    results: list[DeviceResult] = []
    files: list[str | None] = []
    for trial in range(1, options.repeats + 1):
        number = trial if options.repeats > 1 else 0
        result = run_device_process(options, spec, run_id, run_dir, _trial_events(on_event, trial, options.repeats),
                                    interrupt, trial=number)
        if result is None:
            return None
        results.append(result)
        files.append(DeviceFiles.of(run_dir, spec, number).relative_result)
        if result.status != "ok":
            break
    combined = aggregate(results, files, options.repeats)
    write_atomic(result_path(run_dir, spec), dumps(combined))
    return combined


def _run_devices(options: RunOptions, run_id: str, run_dir: Path, on_event: EventFn,
                 interrupt: Interrupt) -> list[DeviceResult]:
    results: list[DeviceResult] = []
    for spec in options.devices:
        if interrupt.requested:
            break
        on_event(spec.name, {"event": "device-start"})
        result = run_device_trials(options, spec, run_id, run_dir, on_event, interrupt)
        if result is not None and spec.count is not None:
            result = attach_scaling(options, spec, result, results, run_dir)
        if result is not None:
            results.append(result)
        on_event(spec.name, {"event": "device-end", "status": result.status if result else "interrupted"})
    return results


def run_suite(options: RunOptions, on_event: EventFn = lambda device, event: None) -> RunOutcome:
    """Run every requested device in turn and write the run's results and reports."""
    ensure_writable_dir(options.out)
    run_id, run_dir = new_run_dir(options.out)
    started = time.time()
    write_meta(run_dir, options.meta(run_id, started, "running"))
    # The handlers stay on while the reports are written: a first signal there lets them finish.
    with Interrupt() as interrupt:
        try:
            results = _run_devices(options, run_id, run_dir, on_event, interrupt)
            complete = len(results) == len(options.devices) and not interrupt.requested
            meta = options.meta(run_id, started, "complete" if complete else "incomplete")
            write_meta(run_dir, meta)
            write_run_reports(options.out, run_dir, meta, results)
        except BaseException:
            # A second signal (or a failure here): quit at once, leaving summary.md as it was, but
            # neither a worker behind nor a run marked running.
            if interrupt.worker is not None:
                interrupt.worker.kill()
            with contextlib.suppress(ResultsError):
                write_meta(run_dir, options.meta(run_id, started, "incomplete"))
            raise
    return RunOutcome(run_id, run_dir, results, complete)
