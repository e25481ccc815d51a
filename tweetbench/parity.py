"""Cross-device parity: does every device compute the same training, from the same start?

Every device worker runs a short parity pass: the workload's model built afresh from its seed
(so the same initial weights everywhere), dropout switched off (so no device-specific random
numbers), trained for ``preset.parity_steps`` steps on the first batches of the seeded training
order (the same batches, in the same order, everywhere). It records the loss at each step.

At report time ``parity_checks`` compares each device's losses with the CPU's, step by step.
A device whose largest absolute difference exceeds the tolerance of the run's precision is
``diverged``: its timings are of a different computation, and the reports flag it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from tweetbench.dataset import EncodedSplit, make_loader
from tweetbench.devices import DeviceBackend
from tweetbench.harness.trainer import make_trainer
from tweetbench.module import TweetClassifier

# Largest |loss(device) - loss(CPU)| at any parity step that still counts as the same computation.
# fp32: XLA, cuDNN and the CPU reorder reductions and fuse ops differently; over a few Adam steps
# that moves the loss by ~1e-6..1e-4 on these shapes. A real difference (other weights, other
# batches, a broken kernel) moves it by 1e-2 and more. Reduced precisions round the activations
# themselves: bf16 keeps 8 bits of mantissa (~4e-3 relative), fp16 11 bits.
TOLERANCE: dict[str, float] = {
    "32-true": 1e-3,
    "16-mixed": 2e-2,
    "16-true": 2e-2,
    "bf16-mixed": 5e-2,
    "bf16-true": 5e-2,
}
DEFAULT_TOLERANCE = 5e-2

Verdict = Literal["reference", "match", "diverged", "no reference", "no data"]


def tolerance_for(precision: str) -> float:
    """The parity tolerance (max absolute loss difference) of a Lightning precision."""
    return TOLERANCE.get(precision, DEFAULT_TOLERANCE)


def without_dropout(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose dropout layers drop nothing (p = 0 makes them the identity)."""
    clone = copy.deepcopy(model)
    for layer in clone.modules():
        if isinstance(layer, nn.modules.dropout._DropoutNd):
            layer.p = 0.0
    return clone


def run_parity(model: nn.Module, backend: DeviceBackend, train: EncodedSplit, *, batch_size: int, seed: int,
               lr: float, steps: int, precision: str) -> dict[str, Any]:
    """Train a dropout-free copy of ``model`` (its initial weights) for ``steps`` steps; return the losses.

    ``model`` must hold the workload's initial weights; it is copied, never changed.
    """
    module = TweetClassifier(without_dropout(model), lr)
    loader = make_loader(train, batch_size, seed=seed, total_batches=steps, pin_memory=backend.pin_memory)
    make_trainer(backend, max_steps=steps, precision=precision).fit(module, loader)
    losses = module.pop_losses()
    return {
        "losses": [loss if math.isfinite(loss) else None for loss in losses],
        "steps": len(losses),
        "dropout": 0.0,
        "precision": precision,
        "batches": f"the first {steps} training batches of seed {seed}",
    }


@dataclass(frozen=True)
class ParityCheck:
    """One device's losses set against the CPU's."""

    device: str
    verdict: Verdict
    tolerance: float
    max_abs_diff: float | None = None
    worst_step: int | None = None
    reason: str = ""

    @property
    def flagged(self) -> bool:
        return self.verdict == "diverged"


def _losses(result: Mapping[str, Any]) -> list[float | None] | None:
    parity = (result.get("metrics") or {}).get("parity")
    if not isinstance(parity, Mapping) or not parity.get("losses"):
        return None
    return list(parity["losses"])


def compare_losses(device: str, losses: Sequence[float | None], reference: Sequence[float | None],
                   tolerance: float) -> ParityCheck:
    """Step-by-step comparison of a device's parity losses with the reference (CPU) losses."""
    if len(losses) != len(reference):
        return ParityCheck(device, "diverged", tolerance,
                           reason=f"{len(losses)} parity steps against the CPU's {len(reference)}")
    worst, worst_step = 0.0, 1
    for step, (mine, theirs) in enumerate(zip(losses, reference, strict=True), start=1):
        if mine is None or theirs is None:
            who = "its" if mine is None else "the CPU's"
            return ParityCheck(device, "diverged", tolerance, None, step, f"{who} loss is NaN/Inf at step {step}")
        diff = abs(mine - theirs)
        if diff > worst:
            worst, worst_step = diff, step
    if worst > tolerance:
        return ParityCheck(device, "diverged", tolerance, worst, worst_step,
                           f"loss differs from the CPU's by {worst:.2e} at step {worst_step} "
                           f"(tolerance {tolerance:.0e})")
    return ParityCheck(device, "match", tolerance, worst, worst_step)


def parity_checks(results: Sequence[Mapping[str, Any]]) -> list[ParityCheck]:
    """Every result's parity verdict against the run's CPU result (pure: records in, verdicts out)."""
    cpu = next((r for r in results if r["device"]["kind"] == "cpu" and _losses(r) is not None), None)
    reference = _losses(cpu) if cpu is not None else None
    checks = []
    for r in results:
        name = r["device"]["name"]
        precision = str((r.get("workload") or {}).get("config", {}).get("precision", "32-true"))
        tolerance = tolerance_for(precision)
        losses = _losses(r)
        if losses is None:
            checks.append(ParityCheck(name, "no data", tolerance, reason="no parity pass in this result"))
        elif r is cpu:
            checks.append(ParityCheck(name, "reference", tolerance, 0.0, None))
        elif reference is None:
            checks.append(ParityCheck(name, "no reference", tolerance,
                                      reason="the CPU did not run a parity pass in this run"))
        else:
            checks.append(compare_losses(name, losses, reference, tolerance))
    return checks
