"""Lightning Trainers configured for measurement: no checkpoints, no progress bar, no validation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl

from tweetbench.config import lightning_precision
from tweetbench.devices import DeviceBackend, tpu_guard

# Every Trainer logs TPU availability; without this, that is a network request (see tpu_guard).
tpu_guard.install()

for _name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def make_trainer(
    backend: DeviceBackend,
    *,
    max_steps: int = -1,
    max_epochs: int | None = None,
    callbacks: Sequence[pl.Callback] = (),
    profiler: Any = None,
    logger: Any = False,
    precision: str = "32-true",
    validate: bool = False,
    **extra: Any,
) -> pl.Trainer:
    """A Trainer on ``backend`` that does only what is measured."""
    options: dict[str, Any] = dict(
        accelerator=backend.lightning_accelerator(),
        devices=backend.lightning_devices(),
        max_steps=max_steps,
        max_epochs=max_epochs if max_epochs is not None else (-1 if max_steps > 0 else None),
        callbacks=list(callbacks),
        profiler=profiler,
        logger=logger,
        precision=lightning_precision(precision),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    if not validate:
        options["limit_val_batches"] = 0
    options.update(extra)
    return pl.Trainer(**options)
