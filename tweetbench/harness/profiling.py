"""Where the time goes: Lightning's SimpleProfiler and AdvancedProfiler, in passes apart from the timed one.

``analysis/breakdown.py`` turns SimpleProfiler's nested actions into exclusive parts of the step;
``analysis/functions.py`` folds the AdvancedProfiler's wrapper frames into the functions that do
the work. The third pass, Lightning's PyTorchProfiler, is in ``harness/tracing.py``.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytorch_lightning.profilers import AdvancedProfiler, SimpleProfiler

from tweetbench.analysis.breakdown import breakdown_from_durations
from tweetbench.analysis.functions import top_working_functions
from tweetbench.devices import DeviceBackend
from tweetbench.harness.recorder import ProgressFn, StepRecorder
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, make_loader
from tweetbench.workload.module import TweetClassifier

TOP_FUNCTIONS = 15


def top_functions(prof_file: Path, limit: int = TOP_FUNCTIONS, *, steps: int = 1) -> list[dict[str, Any]]:
    """The ``limit`` functions that do the work in a cProfile dump (read with pstats): by own time, with
    Lightning's wrapper frames folded into their callers (``analysis/functions.py``)."""
    stats = pstats.Stats(str(prof_file))
    return top_working_functions(stats.stats, limit, steps=steps)  # type: ignore[attr-defined]


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
    # The AdvancedProfiler pass's own steps (cProfile's overhead is larger than SimpleProfiler's).
    advanced_step_seconds: list[float] = field(default_factory=list)


def _profiled_fit(module: TweetClassifier, backend: DeviceBackend, train: EncodedSplit, profiler: Any, *,
                  batch_size: int, seed: int, steps: int, precision: str, on_step: ProgressFn | None) -> StepRecorder:
    recorder = StepRecorder(backend.synchronize, steps, on_step=on_step)
    loader = make_loader(train, batch_size, seed=seed, total_batches=steps, pin_memory=backend.pin_memory)
    module.step_sync = backend.part_sync
    try:
        make_trainer(backend, max_steps=steps, callbacks=[recorder], profiler=profiler,
                     precision=precision).fit(module, loader)
    finally:
        module.step_sync = None
        module.pop_losses()
    return recorder


def run_profiles(module: TweetClassifier, backend: DeviceBackend, train: EncodedSplit, out_dir: Path, *,
                 batch_size: int, seed: int, simple_steps: int, advanced_steps: int, precision: str,
                 skip: int, on_step: ProgressFn | None = None) -> ProfileResult:
    """A SimpleProfiler pass for the breakdown, then an AdvancedProfiler pass for the top functions."""
    out_dir.mkdir(parents=True, exist_ok=True)
    simple = SimpleProfiler(dirpath=out_dir, filename="simple", extended=True)
    recorder = _profiled_fit(module, backend, train, simple, batch_size=batch_size, seed=seed, steps=simple_steps,
                             precision=precision, on_step=on_step)
    measured = recorder.measured[skip:] or recorder.measured
    # Parts are per-step means, so the whole step they are taken from is the mean step too.
    breakdown = breakdown_from_durations(simple.recorded_durations, statistics.fmean(measured), skip=skip)

    def advanced_progress(n: int) -> None:
        if on_step is not None:
            on_step(simple_steps + n)

    advanced = StepProfiler(dirpath=out_dir, filename="advanced", dump_stats=True)
    advanced_recorder = _profiled_fit(module, backend, train, advanced, batch_size=batch_size, seed=seed,
                                      steps=advanced_steps, precision=precision, on_step=advanced_progress)
    prof = out_dir / "fit-advanced-run_training_batch.prof"
    functions = top_functions(prof, steps=advanced_steps) if prof.exists() else []
    return ProfileResult(breakdown, recorder.measured, functions, str(out_dir),
                         advanced_recorder.measured[skip:] or advanced_recorder.measured)
