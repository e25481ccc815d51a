"""Cross-device parity verdicts: each device's parity losses against the reference device's, step by step.

Pure: records in, verdicts out. The parity pass itself (``harness/parity.py``) records the losses;
a device whose largest absolute difference exceeds the tolerance of the run's precision is
``diverged``: its timings are of a different computation, and the reports flag it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tweetbench.records import K_DEVICE, K_METRICS, K_WORKLOAD

# Largest |loss(device) - loss(CPU)| at any parity step that still counts as the same computation.
# fp32: XLA, cuDNN and the CPU reorder reductions and fuse ops differently; over a few Adam steps
# that moves the loss by ~1e-6..1e-4 on these shapes. A real difference (other weights, other
# batches, a broken kernel) moves it by 1e-2 and more. Reduced precisions round the activations
# themselves: bf16 keeps 8 bits of mantissa (~4e-3 relative), fp16 11 bits.
TOLERANCE: dict[str, float] = {
    "32-true": 1e-3,
    # TF32 keeps 10 bits of mantissa in the matmul (as fp16); XLA's default matmul rounds to bf16.
    "32-tf32": 2e-2,
    "32-xla-default": 5e-2,
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
    parity = (result.get(K_METRICS) or {}).get("parity")
    if not isinstance(parity, Mapping) or not parity.get("losses"):
        return None
    return list(parity["losses"])


def compare_losses(device: str, losses: Sequence[float | None], reference: Sequence[float | None],
                   tolerance: float, against: str = "the CPU's") -> ParityCheck:
    """Step-by-step comparison of a device's parity losses with the reference losses (the CPU's; the open
    division's gate compares with closed's, and says so through ``against``)."""
    if len(losses) != len(reference):
        return ParityCheck(device, "diverged", tolerance,
                           reason=f"{len(losses)} parity steps against {against} {len(reference)}")
    worst, worst_step = 0.0, 1
    for step, (mine, theirs) in enumerate(zip(losses, reference, strict=True), start=1):
        if mine is None or theirs is None:
            who = "its" if mine is None else against
            return ParityCheck(device, "diverged", tolerance, None, step, f"{who} loss is NaN/Inf at step {step}")
        diff = abs(mine - theirs)
        if diff > worst:
            worst, worst_step = diff, step
    if worst > tolerance:
        return ParityCheck(device, "diverged", tolerance, worst, worst_step,
                           f"loss differs from {against} by {worst:.2e} at step {worst_step} "
                           f"(tolerance {tolerance:.0e})")
    return ParityCheck(device, "match", tolerance, worst, worst_step)


def parity_checks(results: Sequence[Mapping[str, Any]], reference_kind: str) -> list[ParityCheck]:
    """Every result's parity verdict against the run's reference-device (CPU) result."""
    cpu = next((r for r in results if r[K_DEVICE]["kind"] == reference_kind and _losses(r) is not None), None)
    reference = _losses(cpu) if cpu is not None else None
    checks = []
    for r in results:
        name = r[K_DEVICE]["name"]
        precision = str((r.get(K_WORKLOAD) or {}).get("config", {}).get("precision", "32-true"))
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
