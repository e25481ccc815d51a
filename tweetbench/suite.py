"""Run each device in its own worker process, with a timeout, and collect the results into a run.

A device that crashes, hangs or runs out of memory costs only its own result: the worker is
killed and a ``failed`` result with the last lines of its error is written in its place.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweetbench import __version__
from tweetbench.config import DataSource, DeviceJob, ParallelPlan, Preset, WorkloadConfig
from tweetbench.devices import DeviceSpec
from tweetbench.progress import parse_event
from tweetbench.records import (
    SCHEMA_VERSION,
    TOOL,
    DeviceResult,
    ResultsError,
    dumps,
    new_result,
    read_result,
)
from tweetbench.report.files import ensure_writable_dir, write_atomic
from tweetbench.worker import job_to_dict

DEFAULT_TIMEOUT_S = {"smoke": 600.0, "quick": 1800.0, "standard": 5400.0}
# Training to accuracy runs up to 100 epochs (early stopping usually ends it far sooner).
CONVERGENCE_TIMEOUT_S = {"smoke": 900.0, "quick": 4 * 3600.0, "standard": 4 * 3600.0}
ERROR_TAIL_LINES = 20
EventFn = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class RunOptions:
    """What ``tweetbench run`` was asked to do."""

    devices: tuple[DeviceSpec, ...]
    workload: WorkloadConfig
    preset: Preset
    out: Path
    command: tuple[str, ...]
    data: DataSource = field(default_factory=DataSource)
    timeout_s: float | None = None
    scenario: str = "benchmark"
    profile: bool = True
    require_all: bool = False
    # Independent trials per device, each in a fresh worker process (tweetbench.trials aggregates them).
    repeats: int = 1
    # Data-parallel runs (tweetbench.distributed): devices are then counts per node (gpu:8).
    strategy: str | None = None
    num_nodes: int = 1
    # A single-device result (file or run directory) to compute scaling efficiency against,
    # instead of running the single-device baseline in this invocation.
    scaling_baseline: Path | None = None

    @property
    def device_timeout_s(self) -> float:
        if self.timeout_s is not None:
            return self.timeout_s
        table = CONVERGENCE_TIMEOUT_S if self.scenario == "convergence" else DEFAULT_TIMEOUT_S
        return table.get(self.preset.name, 1800.0)

    def timeout_for(self, spec: DeviceSpec) -> float:
        """``--timeout`` if given, else the preset's default scaled by the device kind (XLA compiles)."""
        if self.timeout_s is not None:
            return self.timeout_s
        from tweetbench.devices import BACKENDS

        return self.device_timeout_s * BACKENDS[spec.kind].default_timeout_scale


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    results: list[DeviceResult]
    complete: bool

    @property
    def exit_code(self) -> int:
        """Non-zero only when a device failed (or was invalid), or the run was interrupted."""
        if not self.complete:
            return 130
        return 1 if any(r.status in ("failed", "invalid") for r in self.results) else 0


def new_run_dir(out: Path) -> tuple[str, Path]:
    """A fresh, uniquely named run directory under ``out`` (created exclusively, never reused)."""
    while True:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        path = out / run_id
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return run_id, path


def run_meta(options: RunOptions, run_id: str, started: float, status: str) -> dict[str, Any]:
    return {
        "tool": TOOL,
        "kind": "run",
        "schema_version": SCHEMA_VERSION,
        "tweetbench_version": __version__,
        "run_id": run_id,
        "status": status,
        "started_at": started,
        "finished_at": None if status == "running" else time.time(),
        "devices": [spec.name for spec in options.devices],
        "workload": options.workload.name,
        "preset": options.preset.name,
        "scenario": options.scenario,
        "command": list(options.command),
        "repeats": options.repeats,
    }


def _tail(path: Path, lines: int = ERROR_TAIL_LINES) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def failed_result(options: RunOptions, spec: DeviceSpec, run_id: str, reason: str,
                  error_tail: list[str]) -> DeviceResult:
    from tweetbench.runner import workload_section

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


class Worker:
    """One running device worker: its process, its event reader and its log."""

    def __init__(self, job_path: Path, log_path: Path, on_event: Callable[[dict[str, Any]], None],
                 env: Mapping[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in wait())
        # A session of its own: the ranks Lightning starts for a data-parallel job join its process
        # group, so kill() ends them all.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tweetbench.worker", str(job_path)],
            stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True,
            env=None if env is None else dict(env),
        )
        self._reader = threading.Thread(target=self._read, args=(on_event,), daemon=True)
        self._reader.start()

    def _read(self, on_event: Callable[[dict[str, Any]], None]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = parse_event(line.rstrip("\n"))
            if event is not None:
                on_event(event)
            else:
                self._log.write(line)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it was still running at the timeout (it is then killed)."""
        try:
            code: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
            code = None
        else:
            self.kill()  # whatever it left behind (the other ranks of a failed data-parallel job)
        self._reader.join(timeout=5)
        self._log.close()
        return code


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
        return f"worker died from {name}{hint}"
    return f"worker exited with code {code}"


class Interrupt:
    """SIGINT/SIGTERM handling: the first signal stops the run cleanly, a second one exits at once."""

    def __init__(self) -> None:
        self.count = 0
        self.worker: Worker | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        print(f"tweetbench: {signal.Signals(signum).name} received: stopping after saving what finished "
              "(press Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
        if self.worker is not None:
            self.worker.kill(signal.SIGKILL)

    def __enter__(self) -> Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_device_process(options: RunOptions, spec: DeviceSpec, run_id: str, run_dir: Path,
                       on_event: EventFn, interrupt: Interrupt | None = None, *,
                       trial: int = 0, env: Mapping[str, str] | None = None) -> DeviceResult | None:
    """Run one device in a worker process and return its result, or a ``failed`` one in its place.

    ``trial`` 0 writes ``<device>.json``; trial k >= 1 writes ``trials/<device>.trial<k>.json``, and
    only trial 1 runs the profiled passes (the breakdown is not a headline figure).
    """
    work = run_dir / "work"
    work.mkdir(exist_ok=True)
    stem = spec.name.replace(':', '-') if trial == 0 else _trial_stem(spec, trial)
    result_path = run_dir / (f"{stem}.json" if trial == 0 else f"{TRIALS_DIR}/{stem}.json")
    result_path.parent.mkdir(exist_ok=True)
    job = DeviceJob(spec.name, options.workload, options.preset, options.data,
                    options.scenario, options.profile and trial <= 1, trial,  # type: ignore[arg-type]
                    parallel=_parallel_plan(options, spec))
    job_path = work / f"{stem}.job.json"
    write_atomic(job_path, json.dumps(job_to_dict(job, run_id=run_id, run_dir=run_dir, result_path=result_path,
                                                  command=list(options.command))))
    log_path = run_dir / "logs" / f"{stem}.log"
    log_path.parent.mkdir(exist_ok=True)
    worker = Worker(job_path, log_path, lambda event: on_event(spec.name, event), env)
    if interrupt is not None:
        interrupt.worker = worker
        if interrupt.requested:  # the signal came while the worker was starting
            worker.kill()
    timeout_s = options.timeout_for(spec)
    code = worker.wait(timeout_s)
    if interrupt is not None:
        interrupt.worker = None
        if interrupt.requested:
            return None  # interrupted: this device did not finish, so it has no result
    if code is None:
        reason = f"timed out after {timeout_s:.0f} s (raise it with --timeout)"
    elif code != 0:
        reason = _describe_exit(code)
    else:
        try:
            return read_result(result_path)
        except ResultsError as exc:
            reason = f"worker wrote no valid result: {exc.message}"
    tail = _tail(log_path)
    last = next((line for line in reversed(tail) if line.strip()), "")
    reason = f"{reason}: {last}" if last else reason
    if job.parallel is not None:
        from tweetbench.distributed import failure_reason

        reason = failure_reason(work, result_path.stem, reason, job.parallel.world_size)
    result = failed_result(options, spec, run_id, reason, tail)
    write_atomic(result_path, dumps(result))
    return result


TRIALS_DIR = "trials"


def result_path(run_dir: Path, spec: DeviceSpec) -> Path:
    """Where a device's result is written in its run directory."""
    return run_dir / f"{spec.name.replace(':', '-')}.json"


def _parallel_plan(options: RunOptions, spec: DeviceSpec) -> ParallelPlan | None:
    """The data-parallel plan of a device count (``gpu:8`` with ``--strategy``), else None."""
    if spec.count is None or options.strategy is None:
        return None
    from tweetbench.distributed import plan_for

    return plan_for(options, spec)


def _with_scaling(options: RunOptions, spec: DeviceSpec, result: DeviceResult, earlier: list[DeviceResult],
                  run_dir: Path) -> DeviceResult:
    """A data-parallel result with its scaling efficiency against the single-device baseline."""
    from tweetbench.distributed import finish_result
    from tweetbench.scaling import given_baseline, pick_baseline

    plan = _parallel_plan(options, spec)
    assert plan is not None
    if options.scaling_baseline is not None:
        baseline, source = given_baseline(options.scaling_baseline, spec.kind)
    else:
        baseline, source = pick_baseline(earlier, spec.kind), "this run"
    result = finish_result(result, plan, options.workload.batch_size, baseline, source)
    write_atomic(result_path(run_dir, spec), dumps(result))
    return result


def _trial_stem(spec: DeviceSpec, trial: int) -> str:
    return f"{spec.name.replace(':', '-')}.trial{trial}"


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
    aggregate as ``<device>.json`` (see ``tweetbench.trials``). Stops at the first trial that is not
    ok (an unavailable device is not retried); None if the run was interrupted."""
    from tweetbench.trials import aggregate

    results: list[DeviceResult] = []
    files: list[str | None] = []
    for trial in range(1, options.repeats + 1):
        result = run_device_process(options, spec, run_id, run_dir, _trial_events(on_event, trial, options.repeats),
                                    interrupt, trial=trial)
        if result is None:
            return None
        results.append(result)
        files.append(f"{TRIALS_DIR}/{_trial_stem(spec, trial)}.json")
        if result.status != "ok":
            break
    combined = aggregate(results, files, options.repeats)
    write_atomic(run_dir / f"{spec.name.replace(':', '-')}.json", dumps(combined))
    return combined


def run_suite(options: RunOptions, on_event: EventFn = lambda device, event: None) -> RunOutcome:
    """Run every requested device in turn and write the run's results and reports."""
    from tweetbench.report.writer import write_run_reports

    ensure_writable_dir(options.out)
    run_id, run_dir = new_run_dir(options.out)
    started = time.time()
    write_atomic(run_dir / "run.json", json.dumps(run_meta(options, run_id, started, "running"), indent=2))
    results: list[DeviceResult] = []
    # The handlers stay on while the reports are written: a first signal there lets them finish.
    with Interrupt() as interrupt:
        try:
            for spec in options.devices:
                if interrupt.requested:
                    break
                on_event(spec.name, {"event": "device-start"})
                result = run_device_trials(options, spec, run_id, run_dir, on_event, interrupt)
                if result is not None and spec.count is not None:
                    result = _with_scaling(options, spec, result, results, run_dir)
                if result is not None:
                    results.append(result)
                on_event(spec.name, {"event": "device-end", "status": result.status if result else "interrupted"})
            complete = len(results) == len(options.devices) and not interrupt.requested
            meta = run_meta(options, run_id, started, "complete" if complete else "incomplete")
            write_atomic(run_dir / "run.json", json.dumps(meta, indent=2))
            write_run_reports(options.out, run_dir, meta, results)
        except BaseException:
            # A second signal (or a failure here): quit at once, leaving summary.md as it was, but
            # neither a worker behind nor a run marked running.
            if interrupt.worker is not None:
                interrupt.worker.kill()
            with contextlib.suppress(ResultsError):
                write_atomic(run_dir / "run.json", json.dumps(run_meta(options, run_id, started, "incomplete"),
                                                              indent=2))
            raise
    return RunOutcome(run_id, run_dir, results, complete)
