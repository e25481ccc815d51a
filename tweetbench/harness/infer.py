"""The inference harness: batch-1 latency (like MLPerf SingleStream) and batched throughput (like Offline).

Both run through ``Trainer.predict``, which puts the model in eval mode under
``torch.inference_mode()`` (``no_grad`` on XLA, where Lightning does not use inference mode). Each
batch is timed twice: the whole request through Lightning's predict loop (batch end to batch end,
synchronised), and the model's forward alone, synchronised before and after, inside ``predict_step``.
Their ratio is the inference overhead of the framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tweetbench.devices import DeviceBackend
from tweetbench.harness.recorder import ProgressFn, StepRecorder, WindowCut, own_clock
from tweetbench.harness.train import synced_steps
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
    # The forward alone of each timed batch (the model's latency), synchronised before and after.
    model_seconds: list[float] = field(default_factory=list)
    # With overlap: the window's synchronised wall time, its host marks, and the synced batches after it.
    window_seconds: float = 0.0
    host_batch_seconds: list[float] = field(default_factory=list)
    synced_seconds: list[float] = field(default_factory=list)
    # What other processes took while the window ran, its stalls, and whether it was cut short (recorder).
    interference: dict[str, Any] = field(default_factory=dict)
    # (host, device) seconds of the steps synchronised one by one, where the device has its own clock,
    # and what the device's clock is: the timer-agreement check (analysis/timers.py).
    timer_pairs: tuple[list[float], list[float]] | None = None
    clock_source: str = "host perf_counter"
    # The device runs each op before it returns (DeviceBackend.synchronous): no overlap gain applies.
    synchronous: bool = False


def run_inference(module: TweetClassifier, backend: DeviceBackend, split: EncodedSplit, *, batch_size: int,
                  warmup: int, batches: int, seed: int, precision: str, overlap: bool = False,
                  on_step: ProgressFn | None = None) -> InferenceRun:
    """Time ``batches`` predict batches of ``batch_size`` after ``warmup`` untimed ones.

    Without ``overlap`` (latency) every batch is synchronised and its forward is timed alone too;
    with it (throughput) the window is synchronised only at its ends, then synced batches follow.
    """
    clock = StepRecorder(backend.synchronize, batches, warmup_steps=warmup, on_step=on_step,
                         on_measure_start=backend.begin_measurement, on_measure_end=backend.end_measurement,
                         device_clock=own_clock(backend.clock()), overlap=overlap,
                         synced_steps=synced_steps(batches), step_boundary=backend.step_boundary, time_bound=True)
    loader = backend.device_loader(make_loader(split, batch_size, seed=seed, shuffle=True,
                                               total_batches=warmup + batches + clock.synced_steps,
                                               pin_memory=backend.pin_memory,
                                               workers=module.step_options.loader_workers))
    trainer = make_trainer(backend, callbacks=[clock], precision=precision)
    module.forward_sync, module.forward_seconds = (None if overlap else backend.synchronize), []
    try:
        trainer.predict(module, dataloaders=loader, return_predictions=False)
    except WindowCut:
        pass  # the window ran past its bound: the recorder keeps what it measured and says why
    finally:
        module.forward_sync = None
    module.train()
    device_steps = clock.device_intervals()
    measured = clock.measured if device_steps is None else device_steps[1]
    return InferenceRun(batch_size, clock.warmup, measured,
                        clock.window, None if device_steps is None else device_steps[1], clock.device_source,
                        module.forward_seconds[len(clock.warmup):][:len(measured)], clock.measured_seconds,
                        clock.measured, clock.synced, clock.interference(measured),
                        clock.synchronised_pairs(), backend.clock().source, backend.synchronous)
