"""The overhead comparison: the same model, batches and optimizer in a bare PyTorch loop, interleaved with Lightning.

tweetbench's own overhead is the ratio of its training throughput to this loop's, measured in
the same process in short alternating blocks (Lightning, bare, bare, Lightning, ...: ABBA) so that
drifts in machine load hit both sides alike. Both sides time whole steps, data fetch included, in
the same precision (autocast and, for fp16, a gradient scaler, as Lightning's plugin does) and with
the same Adam (the device's options: fused, capturable).
"""

from __future__ import annotations

import contextlib
import copy
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from tweetbench.analysis.overhead import pooled_ratio
from tweetbench.config import Preset
from tweetbench.devices import DeviceBackend
from tweetbench.harness.knobs import compile_forward
from tweetbench.harness.recorder import ProgressFn, StepRecorder
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, make_loader
from tweetbench.workload.model import BiLSTMClassifier
from tweetbench.workload.module import TweetClassifier

# The autocast dtype of each mixed precision (Lightning's MixedPrecision plugin uses the same).
AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


@dataclass
class OverheadRun:
    """Measured steps of each side, per round, and the ratio of throughputs."""

    lightning_seconds: list[list[float]]
    bare_seconds: list[list[float]]
    order: list[str]
    # Each block's interference section, in the order of ``order``.
    interference: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Lightning throughput over bare throughput (median step times); 1.0 means no overhead."""
        return pooled_ratio(self.lightning_seconds, self.bare_seconds)

    @property
    def round_ratios(self) -> list[float]:
        return [statistics.median(b) / statistics.median(lt)
                for lt, b in zip(self.lightning_seconds, self.bare_seconds, strict=True)]


@contextlib.contextmanager
def _autocast(device: torch.device, precision: str) -> Iterator[None]:
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device.type, dtype=dtype):
        yield


class _BareLoop:
    """The bare-PyTorch side: forward, loss, backward and Adam, in the workload's precision."""

    def __init__(self, module: TweetClassifier, backend: DeviceBackend, precision: str) -> None:
        self.backend, self.precision = backend, precision
        self.model: BiLSTMClassifier = copy.deepcopy(module.model).to(backend.torch_device)
        # The open division's compiled forward, compiled alike on this side (None in the closed division).
        self.forward = compile_forward(self.model, module.step_options) or self.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=module.lr, **module.optimizer_options)
        self.scaler = torch.amp.GradScaler(backend.torch_device.type) if precision == "16-mixed" else None

    def block(self, loader: torch.utils.data.DataLoader, recorder: StepRecorder) -> None:
        device = self.backend.torch_device
        self.model.train()
        recorder.start()
        for tokens, labels in loader:
            tokens = tokens.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            with _autocast(device, self.precision):
                loss = F.cross_entropy(self.forward(tokens).float(), labels)
            self.optimizer.zero_grad()
            if self.scaler is None:
                loss.backward()
                self.optimizer.step()
            else:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            recorder.tick()
            if recorder.done:  # the planned steps, or fewer where the window ran past its bound
                break


def abba(rounds: int) -> list[tuple[str, str]]:
    """The sides of each round: Lightning then bare, bare then Lightning, and so on (ABBA)."""
    return [("lightning", "bare") if i % 2 == 0 else ("bare", "lightning") for i in range(rounds)]


def run_overhead(module: TweetClassifier, backend: DeviceBackend, train: EncodedSplit, *, batch_size: int,
                 seed: int, preset: Preset, precision: str = "32-true",
                 on_step: ProgressFn | None = None) -> OverheadRun:
    """Alternate Lightning and bare-PyTorch blocks of ``preset.overhead_steps`` measured steps each."""
    warmup, steps = preset.min_warmup_steps, preset.overhead_steps
    bare = _BareLoop(module, backend, precision)
    done = 0

    def progress(n: int) -> None:
        if on_step is not None:
            on_step(done + n)

    result = OverheadRun([], [], [])
    for round_index, sides in enumerate(abba(preset.overhead_rounds)):
        for side in sides:
            recorder = StepRecorder(backend.synchronize, steps, warmup_steps=warmup, on_step=progress, time_bound=True)
            loader = make_loader(train, batch_size, seed=seed + round_index, total_batches=warmup + steps,
                                 pin_memory=backend.pin_memory, workers=module.step_options.loader_workers)
            if side == "lightning":
                make_trainer(backend, max_steps=warmup + steps, callbacks=[recorder], precision=precision).fit(
                    module, loader)
                module.pop_losses()
                result.lightning_seconds.append(recorder.measured)
            else:
                bare.block(loader, recorder)
                result.bare_seconds.append(recorder.measured)
            result.order.append(side)
            result.interference.append(recorder.interference())
            done += warmup + steps
    return result
