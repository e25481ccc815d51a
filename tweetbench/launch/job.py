"""A device job as the file the parent hands its worker: ``<run>/work/<device>.job.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tweetbench.config import (
    DataSource,
    DeviceJob,
    ParallelPlan,
    Preset,
    ServeConfig,
    WorkloadConfig,
)


def job_to_dict(job: DeviceJob, *, run_id: str, run_dir: Path, result_path: Path,
                command: list[str]) -> dict[str, Any]:
    return {
        "device": job.device,
        "workload": job.workload.to_dict(),
        "preset": job.preset.__dict__,
        "data": job.data.to_dict(),
        "scenario": job.scenario,
        "profile": job.profile,
        "trial": job.trial,
        "parallel": None if job.parallel is None else job.parallel.to_dict(),
        "threads": job.threads,
        "xla_functionalization": job.xla_functionalization,
        "on_interference": job.on_interference,
        "serve": None if job.serve is None else job.serve.to_dict(),
        "run_id": run_id,
        "run_dir": str(run_dir),
        "result_path": str(result_path),
        "command": command,
    }


def job_from_dict(data: dict[str, Any]) -> DeviceJob:
    workload = dict(data["workload"])
    workload["split"] = tuple(workload["split"])
    source = data["data"]
    return DeviceJob(
        device=data["device"],
        workload=WorkloadConfig(**workload),
        preset=Preset(**data["preset"]),
        data=DataSource(Path(source["path"]) if source["path"] else None, source["text_column"],
                        source["label_column"], source.get("delimiter")),
        scenario=data["scenario"],
        profile=data["profile"],
        trial=data["trial"],
        parallel=ParallelPlan(**data["parallel"]) if data.get("parallel") else None,
        threads=data.get("threads"),
        xla_functionalization=data.get("xla_functionalization"),
        on_interference=data.get("on_interference", "flag"),
        serve=ServeConfig.from_dict(data["serve"]) if data.get("serve") else None,
    )
