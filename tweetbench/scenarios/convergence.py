"""The convergence scenario on one device: train to accuracy, like DAWNBench.

The model trains on the whole training split, one seeded epoch order shared by every device, for
at most ``preset.max_epochs`` epochs, and is evaluated on the whole validation split after every
epoch. Lightning's ``EarlyStopping`` ends training once the validation loss has not improved for
``PATIENCE`` epochs.

Time to accuracy is the synchronised wall time from the first training step to the end of the
validation pass in which validation accuracy first reaches the workload's ``target_accuracy``.
It includes those validation passes, as DAWNBench's did (the target can only be known to be
reached by evaluating); the training-only share is recorded beside it.

The test accuracy is that of the weights of the best epoch (lowest validation loss, the quantity
early stopping watches), kept in host memory rather than in a checkpoint file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from pytorch_lightning.loggers import TensorBoardLogger

from tweetbench.config import DeviceJob
from tweetbench.devices import DeviceBackend
from tweetbench.devices.base import diff_counters, file_stem
from tweetbench.harness.memory import PeakRSS
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.harness.trainer import make_trainer
from tweetbench.scenarios.outcome import Outcome
from tweetbench.workload.dataset import TweetData, make_loader
from tweetbench.workload.module import TweetClassifier

# Patience 3: the v1 model is near its plateau after 1-2 epochs and its validation loss starts to
# rise (over-fitting) soon after, so 3 epochs without a new low tell a real plateau from one noisy
# epoch while costing at most 3 extra epochs (~1.5-2 min on a CPU).
PATIENCE = 3
MONITOR = "val_loss"
MIN_DELTA = 0.0
TENSORBOARD_DIR = "tensorboard"
CURVE_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class ConvergenceTracker(pl.Callback):
    """Per-epoch curves, the time to the target accuracy and a host copy of the best epoch's weights.

    Every clock read follows ``synchronize()``, so queued device work is counted where it belongs.
    """

    def __init__(self, synchronize: Callable[[], None], target: float,
                 on_batch: Callable[[int], None] | None = None,
                 on_epoch: Callable[[int], None] | None = None,
                 counters: Callable[[], dict[str, Any]] = dict) -> None:
        self.synchronize, self.target = synchronize, target
        self.on_batch, self.on_epoch = on_batch, on_epoch
        # The device runtime's counters (XLA: compile time), so the report can say what the time includes.
        self.counters = counters
        self.counters_at_start: dict[str, Any] = {}
        self.counters_to_accuracy: dict[str, Any] | None = None
        self.curves: dict[str, list[Any]] = {k: [] for k in ("epoch", *CURVE_KEYS, "wall_s", "train_s")}
        self.time_to_accuracy_s: float | None = None
        self.time_to_accuracy_train_s: float | None = None
        self.epochs_to_accuracy: int | None = None
        self.best_val_loss = math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self._t0 = self._epoch_t0 = 0.0
        self._train_s = 0.0
        self._wall_at_val_end = 0.0

    def _now(self) -> float:
        self.synchronize()
        return time.perf_counter()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.counters_at_start = self.counters()
        self._t0 = self._now()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_t0 = self._now()
        if self.on_epoch is not None:
            self.on_epoch(trainer.current_epoch + 1)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.on_batch is not None:
            self.on_batch(batch_idx + 1)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._train_s += self._now() - self._epoch_t0

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._wall_at_val_end = self._now() - self._t0
        val_acc = _finite(trainer.callback_metrics.get("val_acc"))
        if self.time_to_accuracy_s is None and val_acc is not None and val_acc >= self.target:
            self.time_to_accuracy_s = self._wall_at_val_end
            self.time_to_accuracy_train_s = self._train_s
            self.epochs_to_accuracy = trainer.current_epoch + 1
            self.counters_to_accuracy = diff_counters(self.counters(), self.counters_at_start)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning runs the epoch's validation before this hook: both the train and val values are in.
        metrics = trainer.callback_metrics
        epoch = trainer.current_epoch + 1
        self.curves["epoch"].append(epoch)
        for key in CURVE_KEYS:
            self.curves[key].append(_finite(metrics.get(key)))
        self.curves["wall_s"].append(self._wall_at_val_end)
        self.curves["train_s"].append(self._train_s)
        # The module keeps each step's loss for the benchmark harness; here the epoch means are logged, so
        # drop them rather than hold thousands of device tensors.
        losses = getattr(pl_module, "losses", None)
        if isinstance(losses, list):
            losses.clear()
        val_loss = _finite(metrics.get(MONITOR))
        if val_loss is not None and val_loss < self.best_val_loss:
            self.best_val_loss, self.best_epoch = val_loss, epoch
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()}


def _loaders(job: DeviceJob, data: TweetData, pin: bool) -> tuple[Any, Any, Any]:
    wl = job.workload
    # One pass per epoch; the sampler reshuffles each epoch from the seed, so every device sees the same order.
    train = make_loader(data.train, wl.batch_size, seed=wl.seed, shuffle=True, pin_memory=pin)
    val = make_loader(data.val, wl.batch_size, seed=wl.seed, shuffle=False, pin_memory=pin)
    test = make_loader(data.test, wl.batch_size, seed=wl.seed, shuffle=False, pin_memory=pin)
    return train, val, test


def _version(job: DeviceJob, version: str) -> str:
    """The TensorBoard version directory of a device's run: its file stem, then ``-<version>`` if given."""
    return file_stem(job.device) + (f"-{version}" if version else "")


def _evaluated(split_len: int, batch_size: int) -> int:
    # Static shapes: the loaders drop the incomplete last batch, so this many rows are evaluated.
    return (split_len // batch_size) * batch_size


def run_convergence(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData,
                    run_dir: Path, progress: ProgressEmitter, version: str = "") -> Outcome:
    """Train ``module`` to the workload's target accuracy on one device and record the curves.

    ``module`` must log its epoch metrics (``TweetClassifier(..., log_metrics=True)``). ``version``
    tells apart two runs of one device in one run directory (the open division's closed and open).
    """
    wl, outcome = job.workload, Outcome()
    train, val, test = _loaders(job, data, backend.pin_memory)
    batches = len(train)
    tracker = ConvergenceTracker(backend.synchronize, wl.target_accuracy, on_batch=progress.step,
                                 on_epoch=lambda epoch: progress.start_phase(f"epoch {epoch}", batches),
                                 counters=backend.counters)
    stopper = EarlyStopping(monitor=MONITOR, mode="min", patience=PATIENCE, min_delta=MIN_DELTA, check_finite=True)
    logger = TensorBoardLogger(save_dir=str(run_dir), name=TENSORBOARD_DIR, version=_version(job, version),
                               default_hp_metric=False)
    trainer = make_trainer(backend, max_epochs=job.preset.max_epochs, callbacks=[tracker, stopper], logger=logger,
                           precision=wl.precision, validate=True, log_every_n_steps=max(1, min(50, batches)),
                           default_root_dir=str(run_dir / "work"))
    # Dropout draws from the global generators: the same seed on every device (and every rerun).
    pl.seed_everything(wl.seed, verbose=False)
    started = time.perf_counter()
    with PeakRSS() as rss:
        backend.reset_peak_memory()
        trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
        fit_s = time.perf_counter() - started
        counters_fit = diff_counters(backend.counters(), tracker.counters_at_start)
        if tracker.best_state is not None:
            module.load_state_dict(tracker.best_state)
        progress.start_phase("test", len(test))
        scores = make_trainer(backend, precision=wl.precision, validate=True, logger=False).test(
            module, dataloaders=test, verbose=False)[0]
    logger.finalize("success")
    outcome.phases_s = {"fit": fit_s, "test": time.perf_counter() - started - fit_s}
    outcome.metrics["convergence"] = _convergence_metrics(job, data, tracker, scores, batches, fit_s)
    outcome.metrics["convergence"]["tensorboard_dir"] = f"{TENSORBOARD_DIR}/{_version(job, version)}"
    outcome.metrics["convergence"]["device_counters"] = {"fit": counters_fit, "to_accuracy": tracker.counters_to_accuracy}
    outcome.metrics["memory"] = {"peak_rss_bytes": rss.peak, "kernel_max_rss_bytes": PeakRSS.kernel_peak_bytes(),
                                 "device": backend.memory()}
    _judge(outcome, tracker.curves, wl.target_accuracy)
    return outcome


def _convergence_metrics(job: DeviceJob, data: TweetData, tracker: ConvergenceTracker, scores: dict[str, Any],
                         batches: int, fit_s: float) -> dict[str, Any]:
    """The ``convergence`` metrics: time and epochs to the target, the best epoch, test scores, the curves."""
    wl, max_epochs, curves = job.workload, job.preset.max_epochs, tracker.curves
    epochs_run = len(curves["epoch"])
    train_s = curves["train_s"][-1] if epochs_run else 0.0
    best_acc = _best_val_acc(curves)
    return {
        "target_accuracy": wl.target_accuracy,
        "target_reached": tracker.time_to_accuracy_s is not None,
        "time_to_accuracy_s": tracker.time_to_accuracy_s,
        "time_to_accuracy_train_s": tracker.time_to_accuracy_train_s,
        "epochs_to_accuracy": tracker.epochs_to_accuracy,
        "best_val_acc": best_acc,
        "best_val_acc_epoch": curves["val_acc"].index(best_acc) + 1 if best_acc is not None else None,
        "best_epoch": tracker.best_epoch,
        "best_val_loss": None if tracker.best_epoch is None else tracker.best_val_loss,
        "epochs_run": epochs_run,
        "max_epochs": max_epochs,
        "stopped_early": epochs_run < max_epochs,
        "early_stopping": {"monitor": MONITOR, "mode": "min", "patience": PATIENCE, "min_delta": MIN_DELTA},
        "test_acc": _finite(scores.get("test_acc")),
        "test_loss": _finite(scores.get("test_loss")),
        "test_weights": "best epoch (lowest validation loss)" if tracker.best_epoch else "last epoch",
        "test_samples": _evaluated(len(data.test), wl.batch_size),
        "val_samples": _evaluated(len(data.val), wl.batch_size),
        "train_samples_per_epoch": batches * wl.batch_size,
        "batch_size": wl.batch_size,
        "lr": wl.lr,
        "precision": wl.precision,
        "fit_wall_s": fit_s,
        "train_s": train_s,
        "samples_per_s": batches * wl.batch_size * epochs_run / train_s if train_s > 0 else None,
        "curves": curves,
    }


def _best_val_acc(curves: dict[str, list[Any]]) -> float | None:
    val_accs = [a for a in curves["val_acc"] if a is not None]
    return max(val_accs) if val_accs else None


def _judge(outcome: Outcome, curves: dict[str, list[Any]], target: float) -> None:
    """Invalid on a NaN/Inf loss; a reason, but still ok, when the target was not reached."""
    epochs_run = len(curves["epoch"])
    non_finite = [i + 1 for i, loss in enumerate(curves["train_loss"]) if loss is None]
    best_acc = _best_val_acc(curves)
    if non_finite or (epochs_run and curves["val_loss"][-1] is None):
        outcome.status = "invalid"
        outcome.reason = f"loss became NaN/Inf in epoch {(non_finite or [epochs_run])[0]}"
    elif not outcome.metrics["convergence"]["target_reached"]:
        outcome.reason = (f"target not reached: best validation accuracy {best_acc:.4f} < target "
                          f"{target:.2f} in {epochs_run} epochs" if best_acc is not None
                          else "target not reached")
