"""The third profiled pass: Lightning's PyTorchProfiler (torch.profiler, Kineto) over a few whole steps.

A few training steps, a few batch-1 and a few batched predict batches, each in its own Trainer,
apart from the timed pass like the SimpleProfiler and AdvancedProfiler passes. Each writes its
Chrome/Perfetto trace next to the ``.prof`` files; ``analysis/operators.py`` groups the trace's
operators into parts of the model and ``analysis/timeline.py`` reads the device's timeline.

Unlike the other profiled passes, the parts of a step are not synchronised here: a sync between
forward, backward and optimizer would leave the device idle while the host waits, and the device
timeline would show that wait instead of how the device is fed. The device is synchronised at
the end of each step, as in the timed pass.

torch writes the trace file itself (``export_chrome_trace``), so it is exported to a temporary
directory outside the results, then written compactly into place with ``write_atomic``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.profilers import PyTorchProfiler

from tweetbench.analysis.operators import operator_breakdown, parameter_groups
from tweetbench.analysis.timeline import device_timeline
from tweetbench.analysis.trace import within_budget
from tweetbench.devices import DeviceBackend
from tweetbench.harness.recorder import ProgressFn, StepRecorder
from tweetbench.harness.trainer import make_trainer
from tweetbench.records.files import write_atomic
from tweetbench.workload.dataset import EncodedSplit, make_loader
from tweetbench.workload.module import TweetClassifier

TRAIN_TRACE = "train.pt.trace.json"


def predict_trace_name(batch_size: int) -> str:
    """The trace file of the batch-``batch_size`` predict pass (``*.pt.trace.json``, as TensorBoard's
    profiler plugin looks for)."""
    return f"predict-b{batch_size}.pt.trace.json"


@dataclass(frozen=True)
class TraceConfig:
    """How many steps the PyTorchProfiler records: ``steps`` analysed, after one lead-in step that
    the analysis drops (see ``analysis.trace.Trace``), a few unrecorded ones and a warm-up one.

    Shapes and stacks are off to keep traces small: on the CPU the training trace of v1 (as of tiny)
    is about 0.6 MB and each predict trace about 0.1 MB. XLA traces the LSTM unrolled, thousands of
    operators a step: its traces are cut to ``max_bytes``.
    """

    steps: int = 4
    wait: int = 2
    warmup: int = 1
    # The saved trace is cut to its first steps beyond this (XLA unrolls the LSTM into thousands of
    # operators per step); the analysis always reads every recorded step.
    max_bytes: int = 4 * 2**20

    @property
    def batches(self) -> int:
        """Batches each pass runs: unrecorded, warm-up, lead-in, analysed, and one to close the trace."""
        return self.wait + self.warmup + 1 + self.steps + 1


@dataclass
class TracedPass:
    """One traced pass: where its trace is, how big, and what the analysis found in it."""

    path: Path
    bytes: int
    # Analysed steps the saved file holds whole (fewer than analysed when it was cut to its budget).
    steps_in_file: int
    operators: dict[str, Any] | None
    timeline: dict[str, Any] | None


@dataclass
class TraceResult:
    training: TracedPass | None = None
    predict: dict[int, TracedPass] = field(default_factory=dict)


class _TraceCatcher:
    """``on_trace_ready`` for the profiler: exports the trace, writes it atomically, keeps it parsed."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.trace: dict[str, Any] | None = None
        self.steps_in_file = 0

    def __call__(self, profiler: torch.profiler.profile) -> None:
        with tempfile.TemporaryDirectory(prefix="tweetbench-trace-") as scratch:
            exported = Path(scratch) / "trace.json"
            profiler.export_chrome_trace(str(exported))
            trace = json.loads(exported.read_text(encoding="utf-8"))
        kept, self.steps_in_file = within_budget(trace, self.max_bytes)
        write_atomic(self.path, json.dumps(kept, separators=(",", ":")) + "\n")
        self.trace = trace


def _profiler(catcher: _TraceCatcher, config: TraceConfig) -> PyTorchProfiler:
    schedule = torch.profiler.schedule(wait=config.wait, warmup=config.warmup, active=config.steps + 1)
    return PyTorchProfiler(schedule=schedule, on_trace_ready=catcher, record_shapes=False, with_stack=False,
                           profile_memory=False, record_module_names=True)


def _analysed(catcher: _TraceCatcher, parameters: dict[str, int]) -> TracedPass | None:
    if catcher.trace is None or not catcher.path.exists():
        return None
    return TracedPass(catcher.path, catcher.path.stat().st_size, catcher.steps_in_file,
                      operator_breakdown(catcher.trace, parameters=parameters), device_timeline(catcher.trace))


def _parameters(module: TweetClassifier) -> dict[str, int]:
    return parameter_groups([(type(m).__name__, sum(p.numel() for p in m.parameters(recurse=False)))
                             for m in module.model.modules()])


def run_traces(module: TweetClassifier, backend: DeviceBackend, train: EncodedSplit, val: EncodedSplit,
               out_dir: Path, *, batch_size: int, predict_batch_sizes: tuple[int, ...], seed: int, precision: str,
               config: TraceConfig = TraceConfig(), on_step: ProgressFn | None = None) -> TraceResult:
    """Trace a few training steps, then a few predict batches at each of ``predict_batch_sizes``."""
    parameters = _parameters(module)
    result = TraceResult()
    done = 0

    def progress(n: int) -> None:
        if on_step is not None:
            on_step(done + n)

    catcher = _TraceCatcher(out_dir / TRAIN_TRACE, config.max_bytes)
    recorder = StepRecorder(backend.synchronize, config.batches, on_step=progress)
    loader = make_loader(train, batch_size, seed=seed, total_batches=config.batches, pin_memory=backend.pin_memory)
    try:
        make_trainer(backend, max_steps=config.batches, callbacks=[recorder], profiler=_profiler(catcher, config),
                     precision=precision).fit(module, loader)
    finally:
        module.pop_losses()
    result.training = _analysed(catcher, parameters)
    for size in predict_batch_sizes:
        done += config.batches
        catcher = _TraceCatcher(out_dir / predict_trace_name(size), config.max_bytes)
        _predict(module, backend, val, size, catcher, config, seed=seed, precision=precision, on_step=progress)
        traced = _analysed(catcher, parameters)
        if traced is not None:
            result.predict[size] = traced
    return result


def _predict(module: TweetClassifier, backend: DeviceBackend, split: EncodedSplit, batch_size: int,
             catcher: _TraceCatcher, config: TraceConfig, *, seed: int, precision: str,
             on_step: ProgressFn) -> None:
    recorder = StepRecorder(backend.synchronize, config.batches, on_step=on_step)
    loader = make_loader(split, batch_size, seed=seed, total_batches=config.batches, pin_memory=backend.pin_memory)
    make_trainer(backend, callbacks=[recorder], profiler=_profiler(catcher, config), precision=precision).predict(
        module, dataloaders=loader, return_predictions=False)
    module.train()
