"""Run one device job inside its worker process and turn what it measured into a result record."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tweetbench import devices
from tweetbench.config import DataSource, DeviceJob, WorkloadConfig
from tweetbench.devices import Availability, DeviceBackend, DeviceSpec
from tweetbench.harness import coldstart
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.harness.ranks import rank_spec
from tweetbench.records import K_DISTRIBUTED, DeviceResult, new_result, workload_section
from tweetbench.records.environment import capture_environment, noise_state
from tweetbench.scenarios.benchmark import run_benchmark
from tweetbench.scenarios.convergence import run_convergence
from tweetbench.scenarios.dataparallel import run_distributed_benchmark
from tweetbench.scenarios.division import run_open_benchmark, run_open_convergence
from tweetbench.scenarios.outcome import Outcome
from tweetbench.scenarios.serve import run_serve
from tweetbench.workload.dataset import TweetData, load_data
from tweetbench.workload.fingerprint import workload_fingerprint
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier


def run_device(job: DeviceJob, *, run_id: str, run_dir: Path, command: list[str],
               inject_nan: bool = False, progress: ProgressEmitter | None = None) -> DeviceResult | None:
    """Probe the device; if it is here, run the job's scenario on it and return the result.

    A data-parallel job (``job.parallel``) runs in every rank's process: rank 0 returns the
    result of the whole run, the other ranks None.
    """
    started = time.time()
    coldstart.mark("imports", started)
    if job.threads is not None:  # first, so that everything below (and the environment it records) uses it
        torch.set_num_threads(job.threads)
    spec = devices.parse_device(job.device, counted=job.parallel is not None)
    availability = devices.probe(spec)
    common: dict[str, Any] = dict(run_id=run_id, command=command, scenario=job.scenario, trial=job.trial,
                                  preset=job.preset.__dict__, threads=job.threads)
    why = availability.reason if not availability.available else \
        devices.create_backend(spec).supports_precision(job.workload.precision)[1]
    if not availability.available or why:
        return new_result(device=devices.describe(spec, availability), status="unavailable", reason=why,
                          workload=workload_section(job, None, None), environment=capture_environment(), **common)
    backend = devices.create_backend(spec if job.parallel is None else rank_spec(spec, job.parallel))
    ready = prepare(backend, job.workload, job.data)
    module = TweetClassifier(ready.model, job.workload.lr, log_metrics=job.scenario == "convergence",
                             optimizer_options=backend.optimizer_options(job.workload.precision))
    if inject_nan:
        module.inject_nan_at_step = job.preset.min_warmup_steps + 1
    outcome = _run_scenario(job, backend, module, ready.data, run_dir, progress or ProgressEmitter())
    if outcome is None:
        return None  # a rank > 0 of a data-parallel run: rank 0 writes the result
    return _record(job, spec, availability, ready.facts(), outcome, started,
                   workload=workload_section(job, ready.fingerprint, ready.data.source),
                   environment=ready.environment(), **common)


@dataclass(frozen=True)
class Prepared:
    """A device set up for a workload, and what every scenario on it starts from."""

    backend: DeviceBackend
    math: dict[str, Any]  # the math modes the workload's precision set on the device
    data: TweetData
    model: torch.nn.Module  # at the workload's seeded initial weights
    fingerprint: str
    noise: dict[str, Any]  # the machine's noise state before the set-up

    def facts(self) -> dict[str, Any]:
        """The device facts a record describes the device with (``devices.describe``)."""
        return {**self.backend.facts(), **self.math}

    def environment(self) -> dict[str, Any]:
        """A record's ``environment`` section, taken now, with the noise state from before the set-up."""
        return {**capture_environment(), "noise": self.noise}


def prepare(backend: DeviceBackend, workload: WorkloadConfig, source: DataSource) -> Prepared:
    """Set ``backend``'s device up for ``workload``, then load its data and build its model (``tune`` too)."""
    noise = noise_state()
    backend.setup()
    math = backend.configure_precision(workload.precision)
    data = load_data(workload, source)
    coldstart.mark("data_loaded")
    model = build_model(workload, data.num_classes)
    coldstart.mark("model_built")
    return Prepared(backend, math, data, model, workload_fingerprint(workload, data, model), noise)


def timing_section(started: float, phases_s: dict[str, float]) -> dict[str, Any]:
    """A record's ``timing`` section: wall-clock start and end, each phase's seconds, torch's threads."""
    finished = time.time()
    return {"started_at": started, "finished_at": finished, "wall_s": finished - started, "phases_s": phases_s,
            "torch_threads": torch.get_num_threads()}


def _run_scenario(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData, run_dir: Path,
                  progress: ProgressEmitter) -> Outcome | None:
    """The job's scenario on this device; None on a rank > 0 of a data-parallel run."""
    if job.parallel is not None:
        return run_distributed_benchmark(job, backend, module, data, progress)
    open_division = job.workload.division == "open"
    if job.scenario == "serve":
        scenario = run_serve
    elif job.scenario == "convergence":
        scenario = run_open_convergence if open_division else run_convergence
    else:
        scenario = run_open_benchmark if open_division else run_benchmark
    return scenario(job, backend, module, data, run_dir, progress)


def _record(job: DeviceJob, spec: DeviceSpec, availability: Availability, facts: dict[str, Any], outcome: Outcome,
            started: float, **fields: Any) -> DeviceResult:
    """The result record of a scenario that ran."""
    device = devices.describe(spec, availability, facts)
    if outcome.distributed is not None:
        device["label"] += f" ×{outcome.distributed['world_size']} ({outcome.distributed['strategy']})"
        fields[K_DISTRIBUTED] = outcome.distributed
    return new_result(
        device=device,
        status=outcome.status,  # type: ignore[arg-type]
        reason=outcome.reason,
        metrics=outcome.metrics,
        breakdown=outcome.breakdown,
        timing=timing_section(started, outcome.phases_s),
        **fields,
    )
