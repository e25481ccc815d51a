"""``tweetbench tune``: Lightning's finders and a batch-size sweep on one device.

Three passes, each starting from the workload's seeded initial weights:

1. Lightning's ``Tuner.scale_batch_size`` in power mode, from the sweep's smallest size up to its
   largest, and ``Tuner.lr_find`` at the workload's batch size. What they suggest is recorded.
2. A sweep over the powers of two from 16 to 2048: at each size a fresh model trains on the same
   fixed budget of samples at the workload's learning rate, its throughput is timed over whole,
   synchronised steps (warm-up apart), and its validation accuracy is measured after the budget.
   So the sweep shows the trade-off: larger batches run faster but take fewer steps in the budget.
3. A batch that does not fit (the device's allocator raises out-of-memory) is recorded at that
   size, the larger sizes are recorded as not run, and the sweep stops there without crashing.

``launch/tune.py`` runs these passes on a prepared device and writes them to ``<out>/<run-id>/``:
``tune.json`` (validated against ``schema/tune-result.schema.json``), ``tune.md`` and the PNGs it shows.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.tuner import Tuner
from pytorch_lightning.utilities.memory import garbage_collection_cuda, is_oom_error

from tweetbench.analysis.summary import step_summary
from tweetbench.config import WorkloadConfig, choose
from tweetbench.devices import DeviceBackend
from tweetbench.errors import UsageError, first_line
from tweetbench.harness.recorder import StepRecorder
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, TweetData, make_loader
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier

# Far beyond any device's memory and any 64-bit process's address space: every allocator refuses it.
IMPOSSIBLE_BYTES = 2**50
OOM_MARKERS = ("out of memory", "can't allocate memory", "RESOURCE_EXHAUSTED")
LR_SKIP_BEGIN = 10  # Lightning's default for lr_find's suggestion

PhaseFn = Callable[[str], None]


@dataclass(frozen=True)
class TuneSettings:
    """How much work ``tune`` does; the workload's shapes and learning rate come from the workload."""

    name: str
    sweep_min: int = 16
    sweep_max: int = 2048
    # Every size trains on this many samples (a power of two, so each size takes whole steps).
    budget_samples: int = 32_768
    warmup_steps: int = 3
    lr_min: float = 1e-6
    lr_max: float = 1.0
    lr_steps: int = 100
    scale_steps_per_trial: int = 3

    def sizes(self) -> list[int]:
        """The sweep's batch sizes: the powers of two from ``sweep_min`` to ``sweep_max``."""
        sizes, size = [], self.sweep_min
        while size <= self.sweep_max:
            sizes.append(size)
            size *= 2
        return sizes

    def check(self) -> None:
        """Raise a one-line ``UsageError`` unless the sweep is well formed."""
        for label, value in (("smallest", self.sweep_min), ("largest", self.sweep_max)):
            if value < 1 or value & (value - 1):
                raise UsageError(f"the sweep's {label} batch size {value} is not a power of two")
        if self.sweep_min > self.sweep_max:
            raise UsageError(f"the sweep's smallest batch size {self.sweep_min} exceeds its largest {self.sweep_max}")
        if self.budget_samples % self.sweep_max or self.budget_samples < 2 * self.sweep_max:
            raise UsageError(f"the sample budget {self.budget_samples} must be a multiple of at least twice the "
                             f"largest batch size {self.sweep_max}, so every size takes whole steps")


TUNE_PRESETS: dict[str, TuneSettings] = {
    # For CI and the tiny workload: seconds on a CPU.
    "smoke": TuneSettings("smoke", sweep_max=128, budget_samples=1_024, warmup_steps=1, lr_steps=30,
                          scale_steps_per_trial=2),
    # About one epoch of v1's 32,000 training tweets per size.
    "quick": TuneSettings("quick"),
    "standard": TuneSettings("standard", budget_samples=65_536, lr_steps=200),
}


def get_tune_settings(preset: str, *, sweep_max: int | None = None) -> TuneSettings:
    settings = choose(TUNE_PRESETS, preset, "preset")
    if sweep_max is not None:
        budget = max(settings.budget_samples, 2 * sweep_max)
        settings = TuneSettings(**{**asdict(settings), "sweep_max": sweep_max, "budget_samples": budget})
    settings.check()
    return settings


# -- out of memory ------------------------------------------------------------------------------------
def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device or host allocator running out of memory (CUDA, CPU or XLA)."""
    if isinstance(exc, torch.OutOfMemoryError) or is_oom_error(exc):
        return True
    return isinstance(exc, RuntimeError) and any(marker in str(exc) for marker in OOM_MARKERS)


def release_memory() -> None:
    """Free what a failed step left behind (Lightning's helper: gc, and the CUDA cache where there is one)."""
    garbage_collection_cuda()


class MemoryCap:
    """Test-only: make every forward pass over more than ``rows`` rows ask the device for an impossible allocation.

    The allocation is real, so the error is the device allocator's own (``DefaultCPUAllocator: can't
    allocate memory`` on a CPU, ``torch.OutOfMemoryError`` on CUDA) and goes through exactly the
    handling a batch that truly does not fit goes through, in Lightning's finder and in the sweep.
    It is a forward pre-hook, on the model itself, because Lightning's batch-size finder removes
    the Trainer's callbacks while it runs.
    """

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def __call__(self, model: torch.nn.Module, args: tuple[Any, ...]) -> None:
        tokens = args[0]
        if tokens.shape[0] > self.rows:
            torch.empty(IMPOSSIBLE_BYTES, dtype=torch.uint8, device=tokens.device)


class BatchSizesSeen:
    """Records the batch sizes of the training forward passes (what Lightning's finder actually tried)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, model: torch.nn.Module, args: tuple[Any, ...]) -> None:
        size = int(args[0].shape[0])
        if model.training and size not in self.sizes:
            self.sizes.append(size)


# -- the data and the model -------------------------------------------------------------------------
class TweetDataModule(pl.LightningDataModule):
    """The training and validation splits with a mutable ``batch_size``, as Lightning's batch-size finder needs."""

    def __init__(self, train: EncodedSplit, val: EncodedSplit, batch_size: int, *, seed: int,
                 pin_memory: bool) -> None:
        super().__init__()
        self.train, self.val, self.batch_size, self.seed, self.pin_memory = train, val, batch_size, seed, pin_memory

    def _loader(self, split: EncodedSplit, shuffle: bool) -> Any:
        # At least one batch: a size larger than the split still gets a (repeating) batch to try.
        batches = max(len(split) // self.batch_size, 1)
        return make_loader(split, self.batch_size, seed=self.seed, shuffle=shuffle, total_batches=batches,
                           pin_memory=self.pin_memory)

    def train_dataloader(self) -> Any:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> Any:
        # Lightning's finder re-creates the validation loader at each size, so it must exist.
        return self._loader(self.val, shuffle=False)


@dataclass
class TuneContext:
    """What every pass of ``tune`` shares."""

    backend: DeviceBackend
    workload: WorkloadConfig
    data: TweetData
    settings: TuneSettings
    work_dir: Path
    memory_cap: int | None = None
    on_phase: PhaseFn = field(default=lambda name: None)

    def fresh_module(self, *hooks: Callable[..., None]) -> TweetClassifier:
        """The workload's model at its seeded initial weights, with the test-only cap if one is set."""
        model = build_model(self.workload, self.data.num_classes)
        # Dropout draws from the global generators: seed them so each pass trains the same way every time.
        pl.seed_everything(self.workload.seed, verbose=False)
        for hook in hooks:
            model.register_forward_pre_hook(hook)
        if self.memory_cap is not None:
            model.register_forward_pre_hook(MemoryCap(self.memory_cap))
        return TweetClassifier(model, self.workload.lr,
                               optimizer_options=self.backend.optimizer_options(self.workload.precision))

    def trainer(self, **options: Any) -> pl.Trainer:
        return make_trainer(self.backend, precision=self.workload.precision,
                            default_root_dir=str(self.work_dir), **options)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# -- the finders --------------------------------------------------------------------------------------
def find_batch_size(ctx: TuneContext) -> dict[str, Any]:
    """Lightning's power-mode batch-size finder, from the sweep's smallest size up to its largest."""
    s = ctx.settings
    seen = BatchSizesSeen()
    module = ctx.fresh_module(seen)
    datamodule = TweetDataModule(ctx.data.train, ctx.data.val, s.sweep_min, seed=ctx.workload.seed,
                                 pin_memory=ctx.backend.pin_memory)
    trials = int(math.log2(s.sweep_max // s.sweep_min)) + 1
    # max_val above the largest size: Lightning stops *before* trying a size >= max_val.
    found = Tuner(ctx.trainer(max_epochs=-1)).scale_batch_size(
        module, datamodule=datamodule, mode="power", init_val=s.sweep_min, max_trials=trials,
        steps_per_trial=s.scale_steps_per_trial, max_val=2 * s.sweep_max)
    failed = [size for size in seen.sizes if found is not None and size > found]
    if failed:
        why = f"batch {min(failed)} ran out of memory"
    elif found == s.sweep_max:
        why = f"no size up to the search's cap of {s.sweep_max} ran out of memory"
    else:
        why = "Lightning stopped the search"
    return {"suggested": found, "mode": "power", "init_val": s.sweep_min, "max_trials": trials,
            "steps_per_trial": s.scale_steps_per_trial, "tried": seen.sizes, "limited_by": why}


def find_lr(ctx: TuneContext) -> dict[str, Any]:
    """Lightning's learning-rate finder (exponential ramp) at the workload's batch size."""
    s = ctx.settings
    module = ctx.fresh_module()
    datamodule = TweetDataModule(ctx.data.train, ctx.data.val, ctx.workload.batch_size, seed=ctx.workload.seed,
                                 pin_memory=ctx.backend.pin_memory)
    # Lightning's finder draws its own tqdm bar on stderr, whatever the Trainer says: keep it off our display.
    with contextlib.redirect_stderr(io.StringIO()):
        finder = Tuner(ctx.trainer(max_epochs=-1)).lr_find(
            module, datamodule=datamodule, min_lr=s.lr_min, max_lr=s.lr_max, num_training=s.lr_steps,
            mode="exponential", update_attr=False)
    if finder is None:
        raise RuntimeError("Lightning's learning-rate finder did not run")
    suggestion = finder.suggestion(skip_begin=LR_SKIP_BEGIN)
    return {
        "suggested": _finite(suggestion),
        "batch_size": ctx.workload.batch_size,
        "min_lr": s.lr_min,
        "max_lr": s.lr_max,
        "num_training": s.lr_steps,
        "steps_run": len(finder.results.get("lr", [])),
        # Lightning's suggestion ignores this many first points (its smoothed loss is biased low there).
        "skip_begin": LR_SKIP_BEGIN,
        "workload_lr": ctx.workload.lr,
        "curve": {"lr": [float(x) for x in finder.results.get("lr", [])],
                  "loss": [_finite(x) for x in finder.results.get("loss", [])]},
    }


# -- the sweep ----------------------------------------------------------------------------------------
def evaluate(ctx: TuneContext, module: TweetClassifier, split: EncodedSplit) -> dict[str, float | None]:
    """Validation loss and accuracy over ``split`` at the workload's batch size."""
    loader = make_loader(split, ctx.workload.batch_size, seed=ctx.workload.seed, shuffle=False,
                         pin_memory=ctx.backend.pin_memory)
    scores = ctx.trainer(validate=True).validate(module, dataloaders=loader, verbose=False)[0]
    return {"val_acc": _finite(scores.get("val_acc")), "val_loss": _finite(scores.get("val_loss"))}


def sweep_point(ctx: TuneContext, batch_size: int) -> dict[str, Any]:
    """Train a fresh model on the sample budget at ``batch_size``: its throughput and validation accuracy."""
    steps = ctx.settings.budget_samples // batch_size
    warmup = min(ctx.settings.warmup_steps, steps // 2)
    module = ctx.fresh_module()
    recorder = StepRecorder(ctx.backend.synchronize, steps - warmup, warmup_steps=warmup)
    loader = make_loader(ctx.data.train, batch_size, seed=ctx.workload.seed, total_batches=steps,
                         pin_memory=ctx.backend.pin_memory)
    with warnings.catch_warnings():
        # The timed fit has a validation_step but, on purpose, no validation loader.
        warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
        ctx.trainer(max_steps=steps, callbacks=[recorder]).fit(module, train_dataloaders=loader)
    losses = module.pop_losses()
    measured = recorder.measured
    point: dict[str, Any] = {
        "batch_size": batch_size,
        "status": "ok",
        "steps": steps,
        "warmup_steps": len(recorder.warmup),
        "samples_per_s": batch_size * len(measured) / sum(measured),
        "step_ms": step_summary(measured).to_dict(),
        "raw_step_s": measured,
        "final_train_loss": _finite(losses[-1]) if losses else None,
    }
    point.update(evaluate(ctx, module, ctx.data.val))
    return point


def sweep_peaks(points: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Where throughput and where validation accuracy peak among the sizes that ran."""
    ran = [p for p in points if p["status"] == "ok"]
    fast = max(ran, key=lambda p: p["samples_per_s"], default=None)
    scored = [p for p in ran if p.get("val_acc") is not None]
    best = max(scored, key=lambda p: p["val_acc"], default=None)
    return {
        "throughput_peak": None if fast is None else {"batch_size": fast["batch_size"],
                                                      "samples_per_s": fast["samples_per_s"]},
        "accuracy_peak": None if best is None else {"batch_size": best["batch_size"], "val_acc": best["val_acc"]},
    }


def run_sweep(ctx: TuneContext) -> dict[str, Any]:
    """Every size of the sweep, in increasing order, until one does not fit."""
    points: list[dict[str, Any]] = []
    failed_at: int | None = None
    for size in ctx.settings.sizes():
        if failed_at is not None:
            points.append({"batch_size": size, "status": "not-run",
                           "reason": f"the sweep stopped at batch {failed_at}, which did not fit"})
            continue
        ctx.on_phase(f"sweep: batch {size}")
        try:
            points.append(sweep_point(ctx, size))
            continue
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            reason = first_line(exc)[:300]
        # Outside the except block: the traceback, and the tensors its frames hold, are gone by now.
        release_memory()
        failed_at = size
        points.append({"batch_size": size, "status": "out-of-memory", "reason": reason})
    return {
        "sizes": ctx.settings.sizes(),
        "budget_samples": ctx.settings.budget_samples,
        "lr": ctx.workload.lr,
        "eval_batch_size": ctx.workload.batch_size,
        "first_failure": failed_at,
        "points": points,
        **sweep_peaks(points),
    }
