"""The inference harness: batch-1 latency (like MLPerf SingleStream) and batched throughput (like Offline).

Both run through ``Trainer.predict``, which puts the model in eval mode under
``torch.inference_mode()`` (``no_grad`` on XLA, where Lightning does not use inference mode). Each
batch is timed twice: the whole request through Lightning's predict loop (batch end to batch end,
synchronised), and the model's forward alone, synchronised before and after, inside ``predict_step``.
Their ratio is the inference overhead of the framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tweetbench.devices import DeviceBackend
from tweetbench.harness.recorder import ProgressFn, RecordedWindow, StepRecorder, WindowCut, own_clock, recorded_window
from tweetbench.harness.train import synced_steps
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, make_loader
from tweetbench.workload.module import TweetClassifier


@dataclass
class InferenceRun(RecordedWindow):
    """Per-batch times of one inference scenario, warm-up kept apart."""

    batch_size: int
    warmup_seconds: list[float]
    batch_seconds: list[float]
    # The timed batches as the device's own timer saw them (CUDA events), where it has one.
    device_batch_seconds: list[float] | None = None
    # The forward alone of each timed batch (the model's latency), synchronised before and after.
    model_seconds: list[float] = field(default_factory=list)
    # With overlap: the window's per-batch host marks.
    host_batch_seconds: list[float] = field(default_factory=list)


def run_inference(module: TweetClassifier, backend: DeviceBackend, split: EncodedSplit, *, batch_size: int,
                  warmup: int, batches: int, seed: int, precision: str, overlap: bool = False,
                  on_step: ProgressFn | None = None) -> InferenceRun:
    """Time ``batches`` predict batches of ``batch_size`` after ``warmup`` untimed ones.

    Without ``overlap`` (latency) every batch is synchronised and its forward is timed alone too;
    with it (throughput) the window is synchronised only at its ends, then synced batches follow.
    """
    recorder = StepRecorder(backend.synchronize, batches, warmup_steps=warmup, on_step=on_step,
                            on_measure_start=backend.begin_measurement, on_measure_end=backend.end_measurement,
                            device_clock=own_clock(backend.clock()), overlap=overlap,
                            synced_steps=synced_steps(batches), step_boundary=backend.step_boundary, time_bound=True)
    loader = backend.device_loader(make_loader(split, batch_size, seed=seed, shuffle=True,
                                               total_batches=warmup + batches + recorder.synced_steps,
                                               pin_memory=backend.pin_memory,
                                               workers=module.step_options.loader_workers))
    trainer = make_trainer(backend, callbacks=[recorder], precision=precision)
    module.forward_sync, module.forward_seconds = (None if overlap else backend.synchronize), []
    try:
        trainer.predict(module, dataloaders=loader, return_predictions=False)
    except WindowCut:
        pass  # the window ran past its bound: the recorder keeps what it measured and says why
    finally:
        module.forward_sync = None
    module.train()
    device_steps = recorder.device_intervals()
    measured = recorder.measured if device_steps is None else device_steps[1]
    return InferenceRun(batch_size=batch_size, warmup_seconds=recorder.warmup, batch_seconds=measured,
                        device_batch_seconds=None if device_steps is None else device_steps[1],
                        model_seconds=module.forward_seconds[len(recorder.warmup):][:len(measured)],
                        host_batch_seconds=recorder.measured, **recorded_window(recorder, backend, measured))
