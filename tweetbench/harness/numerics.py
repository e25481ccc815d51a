"""The LSTM numerics probe: does ``32-true`` compute IEEE fp32 and ``32-tf32`` TF32, as the labels say?

The workload's ``nn.LSTM`` (its shapes, bidirectional) runs forward and backward on the device in fp32
under each precision's switches (``DeviceBackend.configure_precision``), and the same weights and inputs
run in fp64 on the host as the reference. Errors are relative to the reference's largest magnitude:

- under ``32-true`` they must sit at IEEE fp32 level (``IEEE_LEVEL``: fp32 rounding, 2**-24, times what the
  48 steps and 128-long dot products accumulate, with margin);
- under ``32-tf32`` they must be visibly larger (at least ``TF32_FACTOR`` times): TF32 keeps 10 bits of
  mantissa against fp32's 23, so its rounding is about 2**-11.

A device that has no TF32 (the CPU) gives its own ``32-true`` figures and "not applicable" for ``32-tf32``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tweetbench.config import WorkloadConfig
from tweetbench.devices import DeviceBackend

IEEE_LEVEL = 1e-4
TF32_FACTOR = 10.0
PRECISIONS = ("32-true", "32-tf32")


@dataclass(frozen=True)
class NumericsConfig:
    """The LSTM's shapes, given, or a workload's (``from_workload``): the workload's defaults are not copied here."""

    batch: int
    seq_len: int
    input_size: int
    hidden_size: int
    bidirectional: bool = True
    seed: int = 0

    @classmethod
    def from_workload(cls, workload: WorkloadConfig) -> NumericsConfig:
        return cls(workload.batch_size, workload.seq_len, workload.embed_dim, workload.hidden_size,
                   workload.bidirectional, workload.seed)


def _errors(got: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    ref = ref.detach()
    diff = (got.detach().double().cpu() - ref).abs()
    scale = float(ref.abs().max()) or 1.0
    return {"max_abs": float(diff.max()), "mean_abs": float(diff.mean()), "max_rel": float(diff.max()) / scale}


def _run(lstm: nn.LSTM, x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward, then the gradients of a fixed weighted sum: (output, input grad, every parameter grad flat)."""
    x = x.detach().requires_grad_(True)
    out, _ = lstm(x)
    (out * weights).sum().backward()
    assert x.grad is not None
    grads = torch.cat([p.grad.reshape(-1) for p in lstm.parameters() if p.grad is not None])
    return out, x.grad, grads


def lstm_errors(device: torch.device, config: NumericsConfig) -> dict[str, dict[str, float]]:
    """The fp32 LSTM on ``device`` against the fp64 one on the host: forward, input-gradient, weight-gradient errors."""
    generator = torch.Generator().manual_seed(config.seed)
    reference = nn.LSTM(config.input_size, config.hidden_size, batch_first=True,
                        bidirectional=config.bidirectional).double()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator, dtype=torch.float64) * 0.2 - 0.1)
    x = torch.randn(config.batch, config.seq_len, config.input_size, generator=generator, dtype=torch.float64)
    width = config.hidden_size * (2 if config.bidirectional else 1)
    weights = torch.randn(config.batch, config.seq_len, width, generator=generator, dtype=torch.float64)
    ref = _run(reference, x, weights)
    lstm = copy.deepcopy(reference).float().to(device)
    got = _run(lstm, x.float().to(device), weights.float().to(device))
    return {name: _errors(g, r) for name, g, r in zip(("forward", "input_grad", "weight_grad"), got, ref)}


def judge(results: dict[str, dict[str, Any]]) -> list[str]:
    """One verdict line per precision, each starting "pass", "fail" or "not applicable"."""
    def worst(entry: dict[str, Any]) -> float:
        return max(part["max_rel"] for part in entry["errors"].values())

    verdicts = []
    ieee = results.get("32-true", {})
    if ieee.get("applicable"):
        level = worst(ieee)
        verdicts.append(f"pass: 32-true at IEEE level (max relative error {level:.1e} <= {IEEE_LEVEL:.0e})"
                        if level <= IEEE_LEVEL else
                        f"fail: 32-true's max relative error {level:.1e} is above IEEE level ({IEEE_LEVEL:.0e}): "
                        "it is not computing true fp32, so its 'fp32 IEEE' label is wrong")
    tf32 = results.get("32-tf32", {})
    if not tf32.get("applicable"):
        verdicts.append(f"not applicable: 32-tf32 ({tf32.get('reason', 'not run')})")
    elif not ieee.get("applicable"):
        verdicts.append("not applicable: 32-tf32 has no 32-true figure to compare with")
    else:
        ratio = worst(tf32) / max(worst(ieee), 1e-30)
        verdicts.append(f"pass: 32-tf32 visibly larger ({ratio:.0f}x 32-true's error): TF32 is in effect"
                        if ratio >= TF32_FACTOR else
                        f"fail: 32-tf32's error is only {ratio:.1f}x 32-true's (< {TF32_FACTOR:.0f}x): TF32 is not "
                        "in effect, so its 'TF32' label is wrong")
    return verdicts


def numerics_probe(backend: DeviceBackend, config: NumericsConfig,
                   precisions: tuple[str, ...] = PRECISIONS) -> dict[str, Any]:
    """Each precision's LSTM errors on ``backend`` (or why it does not apply), and the verdicts."""
    results: dict[str, dict[str, Any]] = {}
    for precision in precisions:
        supported, why = backend.supports_precision(precision)
        if not supported:
            results[precision] = {"applicable": False, "reason": why}
            continue
        math = backend.configure_precision(precision)
        results[precision] = {"applicable": True, "math_mode": math.get("math_mode"),
                              "errors": lstm_errors(backend.torch_device, config)}
    verdicts = judge(results)
    return {"device": backend.spec.name, "shapes": config.__dict__, "ieee_level": IEEE_LEVEL,
            "tf32_factor": TF32_FACTOR, "precisions": results, "verdicts": verdicts,
            "passed": not any(v.startswith("fail") for v in verdicts)}


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The probe's result as a few lines of text."""
    lines = [f"LSTM numerics on {result['device']} against fp64 (relative to the reference's largest value):"]
    for precision, entry in result["precisions"].items():
        if not entry["applicable"]:
            lines.append(f"  {precision:8} not applicable: {entry['reason']}")
            continue
        parts = ", ".join(f"{name} max {e['max_rel']:.1e} (mean abs {e['mean_abs']:.1e})"
                          for name, e in entry["errors"].items())
        lines.append(f"  {precision:8} [{entry['math_mode']}] {parts}")
    return lines + [f"  {verdict}" for verdict in result["verdicts"]]
