"""A data-parallel run whose ranks torchrun or SLURM's srun started: this rank's part, in-process.

Rank 0 writes the run (the data-parallel result, then the single-device scaling reference and the
reports); the other ranks measure and return None. Lightning picks up the launcher's environment
itself (``TorchElasticEnvironment``, ``SLURMEnvironment``); ``harness/launcher.py`` reads it too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tweetbench.analysis import scaling
from tweetbench.config import DeviceJob, ParallelPlan
from tweetbench.devices import DeviceSpec
from tweetbench.errors import UsageError
from tweetbench.harness.launcher import LaunchEnv
from tweetbench.harness.progress import ProgressEmitter, parse_event
from tweetbench.launch import suite
from tweetbench.launch.env import single_process_env
from tweetbench.launch.options import EventFn, RunOptions, RunOutcome
from tweetbench.launch.process import ERROR_TAIL_LINES
from tweetbench.launch.runner import run_device
from tweetbench.records import DeviceResult, dumps
from tweetbench.records.files import write_atomic
from tweetbench.records.run import new_run_dir, write_meta
from tweetbench.report.writer import write_run_reports


class _EventStream:
    """A text stream that turns a ProgressEmitter's event lines into calls of ``on_event``."""

    def __init__(self, device: str, on_event: EventFn) -> None:
        self.device, self.on_event = device, on_event

    def write(self, text: str) -> int:
        for line in text.splitlines():
            event = parse_event(line)
            if event is not None:
                self.on_event(self.device, event)
        return len(text)

    def flush(self) -> None:
        return None


class _Terminated(Exception):
    """The launcher sent SIGTERM (usually because another rank failed)."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    def handle(signum: int, frame: Any) -> None:
        raise _Terminated("the launcher terminated this rank (SIGTERM), usually because another rank failed: "
                          "see the launcher's output for that rank's error")

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_launched(options: RunOptions, launched: LaunchEnv, on_event: EventFn) -> RunOutcome | None:
    """This rank's part of a data-parallel run that torchrun or srun started. Rank 0 writes the run
    (the data-parallel result, then the single-device scaling reference and the reports); the
    others return None.

    The scaling reference runs after the data-parallel part, in a worker process without the
    launcher's variables, so that the other ranks need not wait for it inside a collective.
    """
    if len(options.devices) != 1 or options.devices[0].count is None:
        raise UsageError(f"under {launched.launcher}, give exactly one device count, e.g. --devices gpu:8")
    spec = options.devices[0]
    plan = options.parallel_plan(spec)
    assert plan is not None
    launched.check(plan)
    job = DeviceJob(spec.name, options.workload, options.preset, options.data, options.scenario,  # type: ignore[arg-type]
                    options.profile, parallel=plan, threads=options.threads)
    if launched.rank != 0:
        quiet = ProgressEmitter(open(os.devnull, "w"))  # noqa: SIM115
        run_device(job, run_id="rank", run_dir=Path(tempfile.gettempdir()), command=list(options.command),
                   progress=quiet)
        return None
    return _run_rank0(options, spec, plan, job, on_event)


def _run_rank0(options: RunOptions, spec: DeviceSpec, plan: ParallelPlan, job: DeviceJob,
               on_event: EventFn) -> RunOutcome:
    run_id, run_dir = new_run_dir(options.out)
    started = time.time()
    reference_spec = DeviceSpec(spec.kind)
    listed = dataclasses.replace(options, devices=(reference_spec, spec) if options.scaling_reference is None
                                 else (spec,))
    write_meta(run_dir, listed.meta(run_id, started, "running"))
    result = _measure(options, spec, job, run_id, run_dir, on_event)
    results, reference, source = _scaling_reference(options, spec, result, run_id, run_dir, on_event)
    result = scaling.finish_result(result, suite.plan_section(plan, options.workload.batch_size), reference, source)
    write_atomic(suite.result_path(run_dir, spec), dumps(result))
    results.append(result)
    listed = dataclasses.replace(options, devices=(reference_spec, spec) if len(results) == 2 else (spec,))
    meta = listed.meta(run_id, started, "complete")
    write_meta(run_dir, meta)
    write_run_reports(options.out, run_dir, meta, results)
    return RunOutcome(run_id, run_dir, results, complete=True)


def _measure(options: RunOptions, spec: DeviceSpec, job: DeviceJob, run_id: str, run_dir: Path,
             on_event: EventFn) -> DeviceResult:
    """Rank 0's data-parallel result, or a ``failed`` one if this rank (or another) failed."""
    on_event(spec.name, {"event": "device-start"})
    try:
        with _sigterm_raises():
            outcome = run_device(job, run_id=run_id, run_dir=run_dir, command=list(options.command),
                                 progress=ProgressEmitter(_EventStream(spec.name, on_event)))  # type: ignore[arg-type]
        assert outcome is not None  # rank 0 always has the result
        result = outcome
    except Exception as exc:  # this rank's failure (or another rank's, seen as a broken connection)
        tail = traceback.format_exc().splitlines()[-ERROR_TAIL_LINES:]
        result = suite.failed_result(options, spec, run_id, f"rank 0 failed: {type(exc).__name__}: {exc}", tail)
    on_event(spec.name, {"event": "device-end", "status": result.status})
    return result


def _scaling_reference(options: RunOptions, spec: DeviceSpec, result: DeviceResult, run_id: str, run_dir: Path,
                       on_event: EventFn) -> tuple[list[DeviceResult], DeviceResult | None, str]:
    """The scaling reference (run now, in a single-device worker, or given), with the results it adds."""
    if result.status in ("failed", "invalid"):
        # None then: the launcher is likely tearing the ranks down, and there is no efficiency.
        return [], None, "not run: the data-parallel part did not succeed"
    if options.scaling_reference is not None:
        return [], *scaling.given_reference(options.scaling_reference, spec.kind)
    reference_spec = DeviceSpec(spec.kind)
    on_event(reference_spec.name, {"event": "device-start"})
    reference = suite.run_device_process(options, reference_spec, run_id, run_dir, on_event, env=single_process_env())
    on_event(reference_spec.name, {"event": "device-end", "status": reference.status if reference else "?"})
    return ([reference] if reference is not None else []), reference, "this run"
