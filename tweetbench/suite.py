"""Run each device in its own worker process, with a timeout, and collect the results into a run.

A device that crashes, hangs or runs out of memory costs only its own result: the worker is
killed and a ``failed`` result with the last lines of its error is written in its place.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweetbench import __version__
from tweetbench.config import DataSource, DeviceJob, Preset, WorkloadConfig
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

    @property
    def device_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else DEFAULT_TIMEOUT_S.get(self.preset.name, 1800.0)


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

    def __init__(self, job_path: Path, log_path: Path, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in wait())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tweetbench.worker", str(job_path)],
            stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True,
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
                       on_event: EventFn, interrupt: Interrupt | None = None) -> DeviceResult | None:
    """Run one device in a worker process and return its result, or a ``failed`` one in its place."""
    work = run_dir / "work"
    work.mkdir(exist_ok=True)
    result_path = run_dir / f"{spec.name.replace(':', '-')}.json"
    job = DeviceJob(spec.name, options.workload, options.preset, options.data,
                    options.scenario, options.profile)  # type: ignore[arg-type]
    job_path = work / f"{spec.name.replace(':', '-')}.job.json"
    job_path.write_text(json.dumps(job_to_dict(job, run_id=run_id, run_dir=run_dir, result_path=result_path,
                                               command=list(options.command))), encoding="utf-8")
    log_path = run_dir / "logs" / f"{spec.name.replace(':', '-')}.log"
    log_path.parent.mkdir(exist_ok=True)
    worker = Worker(job_path, log_path, lambda event: on_event(spec.name, event))
    if interrupt is not None:
        interrupt.worker = worker
    code = worker.wait(options.device_timeout_s)
    if interrupt is not None:
        interrupt.worker = None
        if interrupt.requested:
            return None  # interrupted: this device did not finish, so it has no result
    if code is None:
        reason = f"timed out after {options.device_timeout_s:.0f} s (raise it with --timeout)"
    elif code != 0:
        reason = _describe_exit(code)
    else:
        try:
            return read_result(result_path)
        except ResultsError as exc:
            reason = f"worker wrote no valid result: {exc.message}"
    tail = _tail(log_path)
    last = next((line for line in reversed(tail) if line.strip()), "")
    result = failed_result(options, spec, run_id, f"{reason}: {last}" if last else reason, tail)
    write_atomic(result_path, dumps(result))
    return result


def run_suite(options: RunOptions, on_event: EventFn = lambda device, event: None) -> RunOutcome:
    """Run every requested device in turn and write the run's results and reports."""
    from tweetbench.report.writer import write_run_reports

    ensure_writable_dir(options.out)
    run_id, run_dir = new_run_dir(options.out)
    started = time.time()
    write_atomic(run_dir / "run.json", json.dumps(run_meta(options, run_id, started, "running"), indent=2))
    results: list[DeviceResult] = []
    with Interrupt() as interrupt:
        for spec in options.devices:
            if interrupt.requested:
                break
            on_event(spec.name, {"event": "device-start"})
            result = run_device_process(options, spec, run_id, run_dir, on_event, interrupt)
            if result is not None:
                results.append(result)
            on_event(spec.name, {"event": "device-end", "status": result.status if result else "interrupted"})
        complete = len(results) == len(options.devices) and not interrupt.requested
    meta = run_meta(options, run_id, started, "complete" if complete else "incomplete")
    write_atomic(run_dir / "run.json", json.dumps(meta, indent=2))
    write_run_reports(options.out, run_dir, meta, results)
    return RunOutcome(run_id, run_dir, results, complete)
