"""The inference harness: batch-1 latency (like MLPerf SingleStream) and batched throughput (like Offline).

Both run through ``Trainer.predict``, which puts the model in eval mode under
``torch.inference_mode()`` (``no_grad`` on XLA, where Lightning does not use inference mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tweetbench.devices import DeviceBackend
from tweetbench.harness.recorder import ProgressFn, StepRecorder, own_clock
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, make_loader
from tweetbench.workload.module import TweetClassifier


@dataclass
class InferenceRun:
    """Per-batch times of one inference scenario, warm-up kept apart."""

    batch_size: int
    warmup_seconds: list[float]
    batch_seconds: list[float]
    # What the device counted during the timed batches (``DeviceBackend.end_measurement``).
    device_counters: dict[str, Any] = field(default_factory=dict)
    # The timed batches as the device's own timer saw them (CUDA events), where it has one.
    device_batch_seconds: list[float] | None = None
    device_timer: str | None = None


def run_inference(module: TweetClassifier, backend: DeviceBackend, split: EncodedSplit, *, batch_size: int,
                  warmup: int, batches: int, seed: int, precision: str,
                  on_step: ProgressFn | None = None) -> InferenceRun:
    """Time ``batches`` predict batches of ``batch_size`` after ``warmup`` untimed ones."""
    clock = StepRecorder(backend.synchronize, batches, warmup_steps=warmup, on_step=on_step,
                      on_measure_start=backend.begin_measurement,
                      on_measure_end=backend.end_measurement,
                      device_clock=own_clock(backend.clock()))
    loader = make_loader(split, batch_size, seed=seed, shuffle=True, total_batches=warmup + batches,
                         pin_memory=backend.pin_memory)
    trainer = make_trainer(backend, callbacks=[clock], precision=precision)
    trainer.predict(module, dataloaders=loader, return_predictions=False)
    module.train()
    device_steps = clock.device_intervals()
    return InferenceRun(batch_size, clock.warmup, clock.measured, clock.window,
                        None if device_steps is None else device_steps[1],
                        clock.device_source)
