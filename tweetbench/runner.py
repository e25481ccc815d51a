"""Run one device job inside its worker process and turn what it measured into a result record."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from tweetbench import devices
from tweetbench.config import DeviceJob
from tweetbench.environment import capture_environment, noise_state
from tweetbench.records import DeviceResult, new_result
from tweetbench.progress import ProgressEmitter


def device_label(kind: str, hardware: str) -> str:
    """The name a reader sees: XLA on the host CPU is never called a TPU."""
    return {
        "cpu": f"CPU ({hardware})",
        "gpu": f"GPU ({hardware})",
        "tpu": f"TPU ({hardware})",
        "xla-cpu": "XLA on CPU (not a TPU)",
    }[kind]


def device_section(spec: devices.DeviceSpec, availability: devices.Availability,
                   facts: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind,
        "label": device_label(spec.kind, availability.hardware),
        "hardware": availability.hardware,
        "facts": {**availability.facts, **(facts or {})},
    }


def workload_section(job: DeviceJob, fingerprint: str | None, data_info: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": job.workload.name, "config": job.workload.to_dict(), "fingerprint": fingerprint,
            "data": data_info or job.data.to_dict()}


def run_device(job: DeviceJob, *, run_id: str, run_dir: Path, command: list[str],
               inject_nan: bool = False, progress: ProgressEmitter | None = None) -> DeviceResult | None:
    """Probe the device; if it is here, run the job's scenario on it and return the result.

    A data-parallel job (``job.parallel``) runs in every rank's process: rank 0 returns the
    result of the whole run, the other ranks None.
    """
    started = time.time()
    spec = devices.parse_device(job.device, counted=job.parallel is not None)
    availability = devices.probe(spec)
    common: dict[str, Any] = dict(run_id=run_id, command=command, scenario=job.scenario, trial=job.trial,
                                  preset=job.preset.__dict__)
    if not availability.available:
        return new_result(device=device_section(spec, availability), status="unavailable",
                          reason=availability.reason, workload=workload_section(job, None, None),
                          environment=capture_environment(), **common)
    ok, why = devices.create_backend(spec).supports_precision(job.workload.precision)
    if not ok:
        return new_result(device=device_section(spec, availability), status="unavailable", reason=why,
                          workload=workload_section(job, None, None), environment=capture_environment(),
                          **common)

    from tweetbench.benchmark import run_benchmark
    from tweetbench.dataset import load_data
    from tweetbench.fingerprint import workload_fingerprint
    from tweetbench.model import build_model
    from tweetbench.module import TweetClassifier

    noise = noise_state()
    if job.parallel is not None:
        from tweetbench.distributed import rank_spec

        backend = devices.create_backend(rank_spec(spec, job.parallel))
    else:
        backend = devices.create_backend(spec)
    backend.setup()
    data = load_data(job.workload, job.data)
    model = build_model(job.workload, data.num_classes)
    fingerprint = workload_fingerprint(job.workload, data, model)
    module = TweetClassifier(model, job.workload.lr, log_metrics=job.scenario == "convergence")
    if inject_nan:
        module.inject_nan_at_step = job.preset.min_warmup_steps + 1
    if job.scenario == "convergence":
        from tweetbench.convergence import run_convergence

        outcome = run_convergence(job, backend, module, data, run_dir, progress or ProgressEmitter())
    else:
        outcome = run_benchmark(job, backend, module, data, run_dir, progress or ProgressEmitter())
    if outcome is None:
        return None  # a rank > 0 of a data-parallel run: rank 0 writes the result
    device = device_section(spec, availability, backend.facts())
    extra: dict[str, Any] = {}
    if outcome.distributed is not None:
        device["label"] += f" ×{outcome.distributed['world_size']} ({outcome.distributed['strategy']})"
        extra["distributed"] = outcome.distributed
    environment = capture_environment()
    environment["noise"] = noise
    return new_result(
        device=device,
        status=outcome.status,  # type: ignore[arg-type]
        reason=outcome.reason,
        workload=workload_section(job, fingerprint, data.source),
        environment=environment,
        metrics=outcome.metrics,
        breakdown=outcome.breakdown,
        timing={"started_at": started, "finished_at": time.time(), "wall_s": time.time() - started,
                "phases_s": outcome.phases_s, "torch_threads": torch.get_num_threads()},
        **common,
        **extra,
    )
