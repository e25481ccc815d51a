"""Cross-device parity: does every device compute the same training, from the same start?

Every device worker runs a short parity pass: the workload's model built afresh from its seed
(so the same initial weights everywhere), dropout switched off (so no device-specific random
numbers), trained for ``preset.parity_steps`` steps on the first batches of the seeded training
order (the same batches, in the same order, everywhere). It records the loss at each step.

At report time ``analysis/parity.py`` compares each device's losses with the CPU's, step by step.
A device whose largest absolute difference exceeds the tolerance of the run's precision is
``diverged``: its timings are of a different computation, and the reports flag it.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from torch import nn

from tweetbench.config import StepOptions
from tweetbench.devices import DeviceBackend
from tweetbench.harness.knobs import CLOSED, open_module
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, make_loader


def without_dropout(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose dropout layers drop nothing (p = 0 makes them the identity)."""
    clone = copy.deepcopy(model)
    for layer in clone.modules():
        if isinstance(layer, nn.modules.dropout._DropoutNd):
            layer.p = 0.0
    return clone


def run_parity(model: nn.Module, backend: DeviceBackend, train: EncodedSplit, *, batch_size: int, seed: int,
               lr: float, steps: int, precision: str, options: StepOptions = CLOSED) -> dict[str, Any]:
    """Train a dropout-free copy of ``model`` (its initial weights) for ``steps`` steps; return the losses.

    ``model`` must hold the workload's initial weights; it is copied, never changed. ``options``
    computes the step the open division's way (the accuracy gate compares it with closed).
    """
    module = open_module(without_dropout(model), lr, backend.optimizer_options(precision), options)
    loader = make_loader(train, batch_size, seed=seed, total_batches=steps, pin_memory=backend.pin_memory)
    with backend.process_settings(options):
        make_trainer(backend, max_steps=steps, precision=precision).fit(module, loader)
    losses = module.pop_losses()
    return {
        "losses": [loss if math.isfinite(loss) else None for loss in losses],
        "steps": len(losses),
        "dropout": 0.0,
        "precision": precision,
        "batches": f"the first {steps} training batches of seed {seed}",
    }
