"""Where the time goes: Lightning's SimpleProfiler and AdvancedProfiler, in passes apart from the timed one.

SimpleProfiler's actions nest: ``optimizer_step`` contains the closure that runs
``training_step`` and ``backward``. ``breakdown_from_durations`` resolves that nesting into
exclusive, non-overlapping parts whose shares add up to 100% of the measured step.

In the profiled passes the module synchronises the device at the end of ``training_step``,
``backward`` and ``optimizer_step``, so on asynchronous devices each action includes its device
work instead of only its kernel launches. Those syncs are why the profiled passes never feed the
headline figures. On XLA there are none (``DeviceBackend.part_sync`` is None): a cut inside the
step would compile new graphs, so there the parts are host-side tracing time and the device's
execution falls into "other".
"""

from __future__ import annotations

import pstats
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytorch_lightning.profilers import AdvancedProfiler, SimpleProfiler

from tweetbench.dataset import EncodedSplit, make_loader
from tweetbench.devices import DeviceBackend
from tweetbench.harness.clock import ProgressFn, StepClock
from tweetbench.harness.trainer import make_trainer
from tweetbench.module import TweetClassifier

PARTS = ("data_loading", "host_to_device", "forward", "backward", "optimizer", "other")
PART_LABELS = {
    "data_loading": "data loading",
    "host_to_device": "host-to-device transfer",
    "forward": "forward",
    "backward": "backward",
    "optimizer": "optimizer step",
    "other": "other (hooks, logging)",
}
VERDICT_WORDS = {
    "data_loading": "data-bound",
    "host_to_device": "transfer-bound",
    "forward": "forward-bound",
    "backward": "backward-bound",
    "optimizer": "optimizer-bound",
    "other": "overhead-bound",
}
TOP_FUNCTIONS = 15


def _find(durations: Mapping[str, Sequence[float]], prefix: str, suffix: str) -> list[float]:
    for action, values in durations.items():
        if action.startswith(prefix) and action.endswith(suffix):
            return list(values)
    return []


def _mean_tail(values: Sequence[float], skip: int) -> float:
    tail = list(values)[skip:] or list(values)
    return statistics.fmean(tail) if tail else 0.0


def breakdown_from_durations(durations: Mapping[str, Sequence[float]], step_seconds: float,
                             skip: int = 0) -> dict[str, Any]:
    """Turn SimpleProfiler's nested per-step actions into exclusive parts of one training step.

    ``step_seconds`` is the whole step as timed by the synchronised clock in the same pass;
    ``skip`` drops each action's first (warm-up) calls. ``optimizer`` is ``optimizer_step``
    less the ``training_step`` and ``backward`` nested in it; ``other`` is what the step took
    beyond the five named parts (hooks, logging, loop bookkeeping).
    """
    forward = _mean_tail(_find(durations, "[Strategy]", ".training_step"), skip)
    backward = _mean_tail(_find(durations, "[Strategy]", ".backward"), skip)
    optimizer_total = _mean_tail(_find(durations, "[LightningModule]", ".optimizer_step"), skip)
    parts = {
        "data_loading": _mean_tail(_find(durations, "[_TrainingEpochLoop]", ".train_dataloader_next"), skip),
        "host_to_device": _mean_tail(_find(durations, "[Strategy]", ".batch_to_device"), skip),
        "forward": forward,
        "backward": backward,
        "optimizer": max(optimizer_total - forward - backward, 0.0),
    }
    named = sum(parts.values())
    parts["other"] = max(step_seconds - named, 0.0)
    total = sum(parts.values())
    rows = {
        name: {"ms_per_step": seconds * 1e3, "share": (seconds / total if total > 0 else 0.0)}
        for name, seconds in parts.items()
    }
    bottleneck = max(PARTS, key=lambda name: rows[name]["share"])
    return {
        "parts": rows,
        "step_ms": total * 1e3,
        "clock_step_ms": step_seconds * 1e3,
        "bottleneck": bottleneck,
        "verdict": f"{VERDICT_WORDS[bottleneck]}: {rows[bottleneck]['share'] * 100:.0f}% of each step",
    }


def top_functions(prof_file: Path, limit: int = TOP_FUNCTIONS) -> list[dict[str, Any]]:
    """The ``limit`` functions with the largest cumulative time in a cProfile dump (read with pstats)."""
    stats = pstats.Stats(str(prof_file))
    rows = []
    for (filename, line, name), (cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(filename).name}:{line}({name})", "calls": nc,
                     "tottime_s": tt, "cumtime_s": ct})
    rows.sort(key=lambda row: row["cumtime_s"], reverse=True)
    return rows[:limit]


class StepProfiler(AdvancedProfiler):
    """AdvancedProfiler restricted to whole training steps.

    cProfile cannot nest: when Lightning starts a profiler for an action inside the step (a hook,
    ``training_step``), the step's own profiler stops receiving events, so its ``.prof`` would miss
    most of the step. Profiling only ``run_training_batch`` keeps one profiler active over it all.
    """

    ACTIONS = frozenset({"run_training_batch"})

    def start(self, action_name: str) -> None:
        if action_name in self.ACTIONS:
            super().start(action_name)

    def stop(self, action_name: str) -> None:
        if action_name in self.ACTIONS:
            super().stop(action_name)


@dataclass
class ProfileResult:
    breakdown: dict[str, Any]
    profiled_step_seconds: list[float]
    top_functions: list[dict[str, Any]]
    prof_dir: str


def _profiled_fit(module: TweetClassifier, backend: DeviceBackend, train: EncodedSplit, profiler: Any, *,
                  batch_size: int, seed: int, steps: int, precision: str, on_step: ProgressFn | None) -> StepClock:
    clock = StepClock(backend.synchronize, steps, on_step=on_step)
    loader = make_loader(train, batch_size, seed=seed, total_batches=steps, pin_memory=backend.pin_memory)
    module.step_sync = backend.part_sync
    try:
        make_trainer(backend, max_steps=steps, callbacks=[clock], profiler=profiler,
                     precision=precision).fit(module, loader)
    finally:
        module.step_sync = None
        module.pop_losses()
    return clock


def run_profiles(module: TweetClassifier, backend: DeviceBackend, train: EncodedSplit, out_dir: Path, *,
                 batch_size: int, seed: int, simple_steps: int, advanced_steps: int, precision: str,
                 skip: int, on_step: ProgressFn | None = None) -> ProfileResult:
    """A SimpleProfiler pass for the breakdown, then an AdvancedProfiler pass for the top functions."""
    out_dir.mkdir(parents=True, exist_ok=True)
    simple = SimpleProfiler(dirpath=out_dir, filename="simple", extended=True)
    clock = _profiled_fit(module, backend, train, simple, batch_size=batch_size, seed=seed, steps=simple_steps,
                          precision=precision, on_step=on_step)
    measured = clock.measured[skip:] or clock.measured
    # Parts are per-step means, so the whole step they are taken from is the mean step too.
    breakdown = breakdown_from_durations(simple.recorded_durations, statistics.fmean(measured), skip=skip)

    def advanced_progress(n: int) -> None:
        if on_step is not None:
            on_step(simple_steps + n)

    advanced = StepProfiler(dirpath=out_dir, filename="advanced", dump_stats=True)
    _profiled_fit(module, backend, train, advanced, batch_size=batch_size, seed=seed, steps=advanced_steps,
                  precision=precision, on_step=advanced_progress)
    prof = out_dir / "fit-advanced-run_training_batch.prof"
    functions = top_functions(prof) if prof.exists() else []
    return ProfileResult(breakdown, clock.measured, functions, str(out_dir))
