"""Result records and run directories for the merge tests, built from the stored fixtures without running anything."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
CPU = json.loads((DATA / "cpu_result.json").read_text())
GPU_UNAVAILABLE = json.loads((DATA / "gpu_unavailable.json").read_text())
META = json.loads((DATA / "run_meta.json").read_text())


def record(device: str = "cpu", *, host: str = "vm", run_id: str = "20260101-000000-aaaaaa", started: float = 1e9,
           status: str = "ok", samples: float | None = None, fingerprint: str | None = None,
           scenario: str = "benchmark") -> dict[str, Any]:
    """A result of ``device`` (cpu, or gpu: ok or unavailable) on ``host``, started at ``started``."""
    if device == "gpu" and status == "unavailable":
        r = copy.deepcopy(GPU_UNAVAILABLE)
    else:
        r = copy.deepcopy(CPU)
        if device == "gpu":
            r["device"] = {"name": "gpu", "kind": "gpu", "label": "GPU (test)", "hardware": "test", "facts": {}}
        if status != "ok":
            r["status"], r["reason"] = status, f"it {status}"
    r["environment"]["hostname"] = host
    r["run_id"] = run_id
    r["timing"] = dict(r.get("timing") or {}, started_at=started)
    r["scenario"] = scenario
    if samples is not None:
        r["metrics"]["training"]["samples_per_s"] = samples
    if fingerprint is not None:
        r["workload"]["fingerprint"] = fingerprint
    return r


def write_run(out: Path, records: list[dict[str, Any]], *, run_id: str | None = None, status: str = "complete",
              dir_name: str | None = None) -> Path:
    """A run directory under ``out`` holding ``records`` (their run id is set to the run's)."""
    run_id = run_id or records[0]["run_id"]
    run_dir = out / (dir_name or run_id)
    run_dir.mkdir(parents=True)
    meta = dict(META, run_id=run_id, status=status, devices=[r["device"]["name"] for r in records],
                started_at=min(r["timing"]["started_at"] for r in records))
    (run_dir / "run.json").write_text(json.dumps(meta))
    for r in records:
        (run_dir / f"{r['device']['name']}.json").write_text(json.dumps(dict(r, run_id=run_id)))
    return run_dir
