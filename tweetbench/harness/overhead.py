"""The overhead comparison: the same model, batches and optimizer in a bare PyTorch loop, interleaved with Lightning.

tweetbench's own overhead is the ratio of its training throughput to this loop's, measured in
the same process in alternating blocks (Lightning, bare, bare, Lightning, ...) so that drifts in
machine load hit both sides alike. Both sides time whole steps, data fetch included.
"""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tweetbench.config import Preset
from tweetbench.devices import DeviceBackend
from tweetbench.harness.recorder import ProgressFn, StepRecorder
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, make_loader
from tweetbench.workload.model import BiLSTMClassifier
from tweetbench.workload.module import TweetClassifier


@dataclass
class OverheadRun:
    """Measured steps of each side, per round, and the ratio of throughputs."""

    lightning_seconds: list[list[float]]
    bare_seconds: list[list[float]]
    order: list[str]

    @property
    def ratio(self) -> float:
        """Lightning throughput over bare throughput (median step times); 1.0 means no overhead."""
        bare = statistics.median(s for block in self.bare_seconds for s in block)
        lightning = statistics.median(s for block in self.lightning_seconds for s in block)
        return bare / lightning

    @property
    def round_ratios(self) -> list[float]:
        return [statistics.median(b) / statistics.median(lt)
                for lt, b in zip(self.lightning_seconds, self.bare_seconds, strict=True)]


def _bare_block(model: BiLSTMClassifier, optimizer: torch.optim.Optimizer, backend: DeviceBackend,
                loader: torch.utils.data.DataLoader, clock: StepRecorder) -> None:
    device = backend.torch_device
    model.train()
    clock.start()
    for tokens, labels in loader:
        tokens = tokens.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        loss = F.cross_entropy(model(tokens), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        clock.tick()


def run_overhead(module: TweetClassifier, backend: DeviceBackend, train: EncodedSplit, *, batch_size: int,
                 seed: int, lr: float, preset: Preset, on_step: ProgressFn | None = None) -> OverheadRun:
    """Alternate Lightning and bare-PyTorch blocks of ``preset.overhead_steps`` measured steps each."""
    warmup, steps = preset.min_warmup_steps, preset.overhead_steps
    bare_model = copy.deepcopy(module.model).to(backend.torch_device)
    optimizer = torch.optim.Adam(bare_model.parameters(), lr=lr)
    done = 0

    def progress(n: int) -> None:
        if on_step is not None:
            on_step(done + n)

    result = OverheadRun([], [], [])
    for round_index in range(preset.overhead_rounds):
        sides = ("lightning", "bare") if round_index % 2 == 0 else ("bare", "lightning")
        for side in sides:
            clock = StepRecorder(backend.synchronize, steps, warmup_steps=warmup, on_step=progress)
            loader = make_loader(train, batch_size, seed=seed + round_index, total_batches=warmup + steps,
                                 pin_memory=backend.pin_memory)
            if side == "lightning":
                make_trainer(backend, max_steps=warmup + steps, callbacks=[clock]).fit(module, loader)
                module.pop_losses()
                result.lightning_seconds.append(clock.measured)
            else:
                _bare_block(bare_model, optimizer, backend, loader, clock)
                result.bare_seconds.append(clock.measured)
            result.order.append(side)
            done += warmup + steps
    return result
