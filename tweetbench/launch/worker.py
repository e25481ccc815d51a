"""One device, in its own process: ``python -m tweetbench.launch.worker JOB.json``.

The parent (``launch/suite.py``) starts one worker per device with a timeout. The worker writes its
result file atomically; if it dies before that, the parent writes a ``failed`` result for it.
Progress goes to stdout as event lines, logs and errors to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from tweetbench import devices, faults
from tweetbench.config import DeviceJob, StepOptions
from tweetbench.errors import TweetbenchError
from tweetbench.harness.rank_files import rank_reporting
from tweetbench.launch.job import job_from_dict
from tweetbench.launch.runner import run_device
from tweetbench.records import dumps
from tweetbench.records.files import write_atomic


def run_job(spec: dict[str, Any]) -> int:
    """Run one device job and write its result; return the process exit code."""
    job = job_from_dict(spec)
    _apply_process_env(job)
    fault = faults.device_fault(job.device)
    faults.process_fault(fault)
    # Every rank of a data-parallel job runs this same command (Lightning re-runs it for ranks > 0).
    with rank_reporting(Path(spec["run_dir"]) / "work", Path(spec["result_path"]).stem, job.parallel):
        result = run_device(job, run_id=spec["run_id"], run_dir=Path(spec["run_dir"]), command=spec["command"],
                            inject_nan=fault == faults.NAN)
    if result is None:
        return 0  # a rank > 0: rank 0 writes the whole run's result
    write_atomic(Path(spec["result_path"]), dumps(result))
    return 0


def _apply_process_env(job: DeviceJob) -> None:
    """``--xla-functionalization``: its variable in this process's environment, before torch_xla loads."""
    if job.xla_functionalization is None:
        return
    backend = devices.create_backend(devices.parse_device(job.device, counted=job.parallel is not None))
    os.environ.update(backend.process_env(StepOptions(xla_functionalization=job.xla_functionalization)))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tweetbench.launch.worker JOB.json", file=sys.stderr)
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
