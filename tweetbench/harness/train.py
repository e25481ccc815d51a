"""The training harness: warm-up until step time settles, then timed optimizer steps.

The measured window keeps the overlap of host and device (synchronised only at its ends); a
shorter window of steps synchronised one by one follows, for the overlap gain (see StepRecorder).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from tweetbench.analysis.steady import SteadyStateDetector
from tweetbench.config import Preset
from tweetbench.devices import DeviceBackend
from tweetbench.harness.recorder import ProgressFn, RecordedWindow, StepRecorder, own_clock, recorded_window
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, make_loader
from tweetbench.workload.module import TweetClassifier

STEADY_WINDOW = 10
STEADY_CV = 0.10


def synced_steps(measured_steps: int) -> int:
    """How many per-step-synchronised steps follow an overlapped window of ``measured_steps``: half of it."""
    return max(2, measured_steps // 2)


@dataclass
class TrainingRun(RecordedWindow):
    """The raw outcome of the timed training pass."""

    warmup_seconds: list[float]
    step_seconds: list[float]
    losses: list[float]
    batch_size: int
    non_pad_tokens: int
    warmup_rule: str
    warmup_capped: bool
    # From the call to fit() to the end of the first step: setup, placement and (on XLA) its compiles.
    time_to_first_step_s: float | None = None
    # The measured steps as the device's own timer saw them (CUDA events), where it has one.
    device_step_seconds: list[float] | None = None
    # The overlapped window's per-step host times (the host's marks only show dispatch when overlapped).
    host_step_seconds: list[float] = field(default_factory=list)

    @property
    def first_non_finite_step(self) -> int | None:
        """1-based index, over all steps (warm-up included), of the first NaN/Inf loss."""
        for i, loss in enumerate(self.losses, start=1):
            if not math.isfinite(loss):
                return i
        return None


def measured_tokens(split: EncodedSplit, batch_size: int, seed: int, first: int, count: int) -> int:
    """Non-pad tokens in batches ``first .. first+count-1`` of the seeded training order (replayed on the host)."""
    loader = make_loader(split, batch_size, seed=seed, total_batches=first + count)
    total = 0
    for i, (tokens, _) in enumerate(loader):
        if i >= first:
            total += int((tokens != 0).sum())
    return total


def run_training(module: TweetClassifier, backend: DeviceBackend, train: EncodedSplit, *, batch_size: int,
                 seed: int, preset: Preset, precision: str, on_step: ProgressFn | None = None) -> TrainingRun:
    """Train through Lightning until ``preset.measured_steps`` steps were timed after a settled warm-up."""
    detector = SteadyStateDetector(
        window=min(STEADY_WINDOW, preset.max_warmup_steps), cv_threshold=STEADY_CV,
        min_warmup=preset.min_warmup_steps, max_warmup=preset.max_warmup_steps,
    )
    recorder = StepRecorder(
        backend.synchronize, preset.measured_steps, detector=detector, on_step=on_step,
        on_measure_start=backend.begin_measurement,
        on_measure_end=backend.end_measurement,
        device_clock=own_clock(backend.clock()), overlap=True, synced_steps=synced_steps(preset.measured_steps),
        step_boundary=backend.step_boundary, time_bound=True,
    )
    total_steps = preset.max_warmup_steps + preset.measured_steps + recorder.synced_steps
    loader = backend.device_loader(make_loader(train, batch_size, seed=seed, total_batches=total_steps,
                                               pin_memory=backend.pin_memory,
                                               workers=module.step_options.loader_workers))
    trainer = make_trainer(backend, max_steps=total_steps, callbacks=[recorder], precision=precision)
    module.pop_losses()
    fit_started = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    losses = module.pop_losses()
    device_steps = recorder.device_intervals()
    # The device's own step times where it has a clock (the host's marks only show dispatch when overlapped).
    steps = recorder.measured if device_steps is None else device_steps[1]
    return TrainingRun(
        warmup_seconds=recorder.warmup,
        step_seconds=steps,
        losses=losses,
        batch_size=batch_size,
        non_pad_tokens=measured_tokens(train, batch_size, seed, len(recorder.warmup), len(recorder.measured)),
        warmup_rule=detector.rule,
        warmup_capped=detector.capped,
        time_to_first_step_s=None if recorder.first_step_at is None else recorder.first_step_at - fit_started,
        device_step_seconds=None if device_steps is None else device_steps[1],
        host_step_seconds=recorder.measured,
        **recorded_window(recorder, backend, steps),
    )
