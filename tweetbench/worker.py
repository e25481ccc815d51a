"""One device, in its own process: ``python -m tweetbench.worker JOB.json``.

The parent (``suite.py``) starts one worker per device with a timeout. The worker writes its
result file atomically; if it dies before that, the parent writes a ``failed`` result for it.
Progress goes to stdout as event lines, logs and errors to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from tweetbench.config import DataSource, DeviceJob, ParallelPlan, Preset, WorkloadConfig
from tweetbench.errors import TweetbenchError

FAULT_ENV = "TWEETBENCH_TEST_FAULT"


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
                        source["label_column"]),
        scenario=data["scenario"],
        profile=data["profile"],
        trial=data["trial"],
        parallel=ParallelPlan(**data["parallel"]) if data.get("parallel") else None,
    )


def _test_fault(device: str) -> str | None:
    """A fault injected by the test suite through the environment, e.g. ``cpu:crash``."""
    spec = os.environ.get(FAULT_ENV, "")
    for item in filter(None, spec.split(",")):
        target, _, fault = item.partition(":")
        if target == device:
            return fault
    return None


def _apply_fault(fault: str | None) -> None:
    if fault == "crash":
        print("tweetbench test fault: crashing on purpose", file=sys.stderr, flush=True)
        os.abort()
    if fault == "hang":
        print("tweetbench test fault: hanging on purpose", file=sys.stderr, flush=True)
        while True:
            time.sleep(1)
    if fault == "oom":
        # A real allocation failure: cap the address space a little above what is mapped, then exceed it.
        import resource

        import psutil
        import torch

        print("tweetbench test fault: running out of memory on purpose", file=sys.stderr, flush=True)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (psutil.Process().memory_info().vms + 2**28, hard))
        torch.ones(2**32, dtype=torch.uint8)


def run_job(spec: dict[str, Any]) -> int:
    """Run one device job and write its result; return the process exit code."""
    from tweetbench.runner import run_device

    job = job_from_dict(spec)
    fault = _test_fault(job.device)
    _apply_fault(fault)
    from tweetbench.distributed import rank_reporting

    # Every rank of a data-parallel job runs this same command (Lightning re-runs it for ranks > 0).
    with rank_reporting(Path(spec["run_dir"]) / "work", Path(spec["result_path"]).stem, job.parallel):
        result = run_device(job, run_id=spec["run_id"], run_dir=Path(spec["run_dir"]), command=spec["command"],
                            inject_nan=fault == "nan")
    if result is None:
        return 0  # a rank > 0: rank 0 writes the whole run's result
    from tweetbench.records import dumps
    from tweetbench.report.files import write_atomic

    write_atomic(Path(spec["result_path"]), dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tweetbench.worker JOB.json", file=sys.stderr)
        return 2
    try:
        spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        return run_job(spec)
    except TweetbenchError as exc:
        print(f"tweetbench: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except Exception:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
