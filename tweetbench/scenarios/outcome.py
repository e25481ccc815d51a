"""What a scenario yields on one device: its status, metrics, breakdown and the time of each phase."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tweetbench.analysis.timers import disagreement
from tweetbench.config import DeviceJob
from tweetbench.devices import DeviceBackend
from tweetbench.devices.base import diff_counters
from tweetbench.harness.progress import ProgressEmitter

# ``--on-interference remeasure``: a window is measured at most this many times in all. Bounded, so that a
# machine that stays loaded ends the run (each attempt is itself bounded in time).
REMEASURE_ATTEMPTS = 3
Run = TypeVar("Run")
# What the record keeps of each window's interference section, in ``metrics.interference.windows``.
WINDOW_KEYS = ("interfered", "reasons", "cpu_measured", "cpu_reason", "cores", "others_cores",
               "others_cores_uncertainty", "steal_cores", "stalled_steps", "stalled_s", "window_s", "cut_short")


@dataclass
class Outcome:
    """What the scenario measured, and whether the result is valid."""

    status: str = "ok"
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    breakdown: dict[str, Any] | None = None
    phases_s: dict[str, float] = field(default_factory=dict)
    # A data-parallel run's world, per-rank figures, communication and scaling (scenarios/dataparallel.py).
    distributed: dict[str, Any] | None = None


class Phases:
    """Times each phase and, where the device keeps counters (XLA compiles), what it counted in it."""

    def __init__(self, progress: ProgressEmitter, outcome: Outcome, backend: DeviceBackend) -> None:
        self.progress, self.outcome, self.backend = progress, outcome, backend
        self._name, self._start = "", 0.0
        self._counters: dict[str, Any] = {}

    def start(self, name: str, total: int) -> ProgressEmitter:
        self.stop()
        self._name, self._start = name, time.perf_counter()
        self._counters = self.backend.counters()
        self.progress.start_phase(name, total)
        return self.progress

    def stop(self) -> None:
        if self._name:
            self.outcome.phases_s[self._name] = time.perf_counter() - self._start
            if self._counters:
                phases = self.outcome.metrics.setdefault("device_phases", {})
                phases[self._name] = diff_counters(self.backend.counters(), self._counters)
            self._name = ""


# Host-to-device transfers a measured step may make: the batch's tokens and labels, and the RNG seed.
ALLOWED_TRANSFERS_PER_STEP = 3


def check_windows(outcome: Outcome, backend: DeviceBackend, windows: dict[str, tuple[dict[str, Any], int]]) -> None:
    """Mark the outcome invalid if the device rejects a measured window (an XLA compile inside it), and
    keep the device's warnings about a window (host round-trips beyond the batch's own tensors)."""
    for what, (window, steps) in windows.items():
        problem = backend.check_measurement(window)
        if problem and outcome.status == "ok":
            outcome.status, outcome.reason = "invalid", f"{problem} of {what}"
        warning = backend.measurement_warning(window, steps, ALLOWED_TRANSFERS_PER_STEP)
        if warning:
            outcome.metrics.setdefault("window_warnings", []).append(f"{warning} of {what}")


# The measured windows of the benchmark scenario: their name in words, and where their metrics lie.
WINDOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("training", ("training",)),
    ("batch-1 inference", ("inference",)),
    ("batched inference", ("inference", "offline")),
    ("overhead rounds", ("overhead",)),
)


def _section(metrics: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        metrics = metrics.get(key) or {}
    return metrics


def check_timers(outcome: Outcome) -> None:
    """Warn where a device clock disagrees with the host clock on a window's synchronised steps."""
    for what, path in WINDOWS:
        warning = disagreement(_section(outcome.metrics, path).get("timer_agreement") or {}, what)
        if warning:
            outcome.metrics.setdefault("window_warnings", []).append(warning)


def measure(job: DeviceJob, attempt: Callable[[int], Run],
            interference: Callable[[Run], dict[str, Any] | None]) -> tuple[Run, list[Run]]:
    """One measured pass; under ``remeasure``, again while interfered (at most REMEASURE_ATTEMPTS in all).

    Returns the kept attempt (the first that was not interfered, else the last) and the earlier ones, which
    the record keeps too: nothing measured is discarded silently.
    """
    earlier: list[Run] = []
    run = attempt(1)
    while (job.on_interference == "remeasure" and (interference(run) or {}).get("interfered")
           and len(earlier) + 1 < REMEASURE_ATTEMPTS):
        earlier.append(run)
        run = attempt(len(earlier) + 1)
    return run, earlier


def check_interference(outcome: Outcome, policy: str) -> None:
    """The benchmark scenario's windows (``WINDOWS``) through ``name_interference``."""
    sections = {what: _section(outcome.metrics, path).get("interference") for what, path in WINDOWS}
    name_interference(outcome, policy, {what: section for what, section in sections.items() if section})


def name_interference(outcome: Outcome, policy: str, sections: Mapping[str, Mapping[str, Any]]) -> None:
    """Name every interfered window in ``metrics.interference``; under ``invalid``, the result is invalid."""
    windows = {what: {key: section.get(key) for key in WINDOW_KEYS} for what, section in sections.items()}
    hit = [what for what, section in windows.items() if section["interfered"]]
    outcome.metrics["interference"] = {"policy": policy, "interfered": bool(hit), "interfered_windows": hit,
                                       "windows": windows}
    if hit and policy == "invalid" and outcome.status == "ok":
        first = windows[hit[0]]
        outcome.status = "invalid"
        outcome.reason = (f"interference in the {hit[0]} window: {first['reasons'][0]}"
                          + (f" (and in {len(hit) - 1} more)" if len(hit) > 1 else "")
                          + "; rerun on a quiet machine, or with --on-interference remeasure")
