"""A device job as the file the parent hands its worker: ``<run>/work/<device>.job.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tweetbench.config import DeviceJob


def job_to_dict(job: DeviceJob, *, run_id: str, run_dir: Path, result_path: Path,
                command: list[str]) -> dict[str, Any]:
    return {**job.to_dict(), "run_id": run_id, "run_dir": str(run_dir), "result_path": str(result_path),
            "command": command}


def job_from_dict(data: dict[str, Any]) -> DeviceJob:
    return DeviceJob.from_dict(data)
