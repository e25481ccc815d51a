"""What ``tweetbench run`` was asked to do, and what came of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweetbench.config import DataSource, ParallelPlan, Preset, WorkerSettings, WorkloadConfig
from tweetbench.devices import BACKENDS, DeviceSpec
from tweetbench.records import DeviceResult
from tweetbench.records.run import RunStatus, run_meta

DEFAULT_TIMEOUT_S = {"smoke": 600.0, "quick": 1800.0, "standard": 5400.0}
# Training to accuracy runs up to 100 epochs (early stopping usually ends it far sooner).
CONVERGENCE_TIMEOUT_S = {"smoke": 900.0, "quick": 4 * 3600.0, "standard": 4 * 3600.0}
# A device's progress: (device name, event) as the worker's event lines carry it.
EventFn = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class RunOptions(WorkerSettings):
    """What ``tweetbench run`` was asked to do; the settings every device's worker applies come from
    ``WorkerSettings`` (keyword-only)."""

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
    # Independent trials per device, each in a fresh worker process (tweetbench.analysis.trials aggregates them).
    repeats: int = 1
    # Data-parallel runs (scenarios/dataparallel.py): devices are then counts per node (gpu:8).
    strategy: str | None = None
    num_nodes: int = 1
    # A single-device result (file or run directory) to compute scaling efficiency against (the
    # scaling reference), instead of running the single-device reference in this invocation.
    scaling_reference: Path | None = None

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
        return self.device_timeout_s * BACKENDS[spec.kind].default_timeout_scale

    def parallel_plan(self, spec: DeviceSpec) -> ParallelPlan | None:
        """The data-parallel plan of a device count (``gpu:8`` with ``--strategy``), else None."""
        if spec.count is None or self.strategy is None:
            return None
        return ParallelPlan(self.strategy, spec.count, self.num_nodes, self.timeout_s)  # type: ignore[arg-type]

    def meta(self, run_id: str, started: float, status: RunStatus) -> dict[str, Any]:
        """This run's ``run.json``."""
        return run_meta(run_id=run_id, started=started, status=status, devices=[spec.name for spec in self.devices],
                        workload=self.workload.name, preset=self.preset.name, scenario=self.scenario,
                        command=self.command, repeats=self.repeats)


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
