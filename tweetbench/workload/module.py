"""The LightningModule around the pure PyTorch model."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from tweetbench.config import StepOptions
from tweetbench.workload.model import BiLSTMClassifier


class TweetClassifier(pl.LightningModule):
    """Cross-entropy training with Adam; logs loss and accuracy only when ``log_metrics`` is on."""

    def __init__(self, model: BiLSTMClassifier, lr: float, *, log_metrics: bool = False,
                 optimizer_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.model = model
        self.lr = lr
        # The device's way of running the same Adam (``DeviceBackend.optimizer_options``): fused, capturable.
        self.optimizer_options = dict(optimizer_options or {})
        self.log_metrics = log_metrics
        # Set by a profiled pass so that each profiled action includes its device work.
        self.step_sync: Callable[[], None] | None = None
        self.losses: list[torch.Tensor] = []
        # Set by the inference harness: a sync before and after the forward of each predict batch,
        # so that the forward alone is timed (the model's latency, apart from Lightning's loop).
        self.forward_sync: Callable[[], None] | None = None
        self.forward_seconds: list[float] = []
        # The open division's compiled forward (harness/knobs.py): torch.compile of ``model.forward``, kept
        # out of the module tree so that the state dict and Lightning see the model alone. None: eager.
        self.compiled_forward: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.step_options: StepOptions = StepOptions()
        # A test-only fault: from this (1-based) training step on, the loss is NaN.
        self.inject_nan_at_step: int | None = None
        self._steps_seen = 0

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.compiled_forward is not None:
            return self.compiled_forward(tokens)
        return self.model(tokens)

    def _sync(self) -> None:
        if self.step_sync is not None:
            self.step_sync()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        tokens, labels = batch
        logits = self(tokens)
        loss = F.cross_entropy(logits.float(), labels)
        self._steps_seen += 1
        if self.inject_nan_at_step is not None and self._steps_seen >= self.inject_nan_at_step:
            loss = loss * float("nan")
        # Kept on the device; read after the measured steps so that no read forces a sync inside them.
        self.losses.append(loss.detach())
        if self.log_metrics:
            acc = (logits.argmax(dim=-1) == labels).float().mean()
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            self.log("train_acc", acc, on_step=False, on_epoch=True)
        self._sync()
        return loss

    def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        super().backward(loss, *args, **kwargs)
        self._sync()

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        self._sync()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        tokens, labels = batch
        logits = self(tokens)
        loss = F.cross_entropy(logits.float(), labels)
        acc = (logits.argmax(dim=-1) == labels).float().mean()
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=False)
        self.log(f"{stage}_acc", acc, on_step=False, on_epoch=True, prog_bar=False)

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        tokens, _ = batch
        if self.forward_sync is None:
            return self(tokens)
        self.forward_sync()
        started = time.perf_counter()
        logits = self(tokens)
        self.forward_sync()
        self.forward_seconds.append(time.perf_counter() - started)
        return logits

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr, **self.optimizer_options)

    def pop_losses(self) -> list[float]:
        """The losses recorded since the last call, as floats (one device read for all of them)."""
        if not self.losses:
            return []
        values = torch.stack(self.losses).float().cpu().tolist()
        self.losses.clear()
        return values
