"""``tweetbench tune`` as a run: the device set up as for any run, the tune scenario's passes, and ``tune.json``.

The passes themselves (Lightning's finders, the batch-size sweep) are ``scenarios/tune.py``; this module gives
them a device prepared by ``launch.runner.prepare`` and writes their record with ``launch.runner``'s timing
section, so that a tune record and a device result describe the device, the environment and the time alike.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tweetbench import devices, faults
from tweetbench.config import DataSource, WorkloadConfig
from tweetbench.devices import Availability, DeviceBackend, DeviceSpec
from tweetbench.errors import UsageError
from tweetbench.launch.runner import prepare, timing_section
from tweetbench.records.files import ensure_writable_dir
from tweetbench.records.run import new_run_dir
from tweetbench.records.tune import new_tune
from tweetbench.report.writer import write_tune_outputs
from tweetbench.scenarios.tune import PhaseFn, TuneContext, TuneSettings, find_batch_size, find_lr, run_sweep


@dataclass(frozen=True)
class TuneOptions:
    """What ``tweetbench tune`` was asked to do."""

    device: DeviceSpec
    workload: WorkloadConfig
    settings: TuneSettings
    out: Path
    command: tuple[str, ...]
    data: DataSource = field(default_factory=DataSource)


def run_tune(options: TuneOptions, on_phase: PhaseFn = lambda name: None) -> Path:
    """Run the finders and the sweep on one device and write the tune run; return its directory."""
    spec, wl = options.device, options.workload
    options.settings.check()
    availability, backend = _backend(spec, wl.precision)
    cap = faults.memory_cap(spec.name)
    ensure_writable_dir(options.out)
    run_id, run_dir = new_run_dir(options.out)
    started = time.time()
    on_phase("data")
    ready = prepare(backend, wl, options.data)
    ctx = TuneContext(backend, wl, ready.data, options.settings, run_dir / "work", cap, on_phase)
    ctx.work_dir.mkdir(exist_ok=True)
    phases: dict[str, float] = {}
    try:
        finders = {"batch_size": _timed(ctx, phases, "batch-size finder", find_batch_size),
                   "lr": _timed(ctx, phases, "lr finder", find_lr)}
        sweep = _timed(ctx, phases, "sweep", run_sweep)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing but scratch files yet: leave no half run behind
        raise
    record = new_tune(
        run_id=run_id, command=options.command, device=devices.describe(spec, availability, ready.facts()),
        workload={"name": wl.name, "config": wl.to_dict(), "fingerprint": ready.fingerprint,
                  "data": ready.data.source},
        settings=asdict(options.settings), memory_cap_fault=cap, finders=finders, sweep=sweep,
        environment=ready.environment(), timing=timing_section(started, phases))
    on_phase("report")
    write_tune_outputs(run_dir, record)
    with contextlib.suppress(OSError):
        ctx.work_dir.rmdir()  # the finders' temporary checkpoints are gone; keep the directory only if not
    return run_dir


def _backend(spec: DeviceSpec, precision: str) -> tuple[Availability, DeviceBackend]:
    """The device's backend, or a usage error when the device or the precision cannot run here."""
    availability = devices.probe(spec)
    if not availability.available:
        raise UsageError(f"device {spec.name} cannot run here: {availability.reason}")
    backend = devices.create_backend(spec)
    ok, why = backend.supports_precision(precision)
    if not ok:
        raise UsageError(f"precision {precision} on {spec.name}: {why}")
    return availability, backend


def _timed(ctx: TuneContext, phases: dict[str, float], name: str,
           fn: Callable[[TuneContext], dict[str, Any]]) -> dict[str, Any]:
    """``fn(ctx)`` as the phase ``name``, its wall time recorded in ``phases``."""
    ctx.on_phase(name)
    t0 = time.perf_counter()
    result = fn(ctx)
    phases[name] = time.perf_counter() - t0
    return result
