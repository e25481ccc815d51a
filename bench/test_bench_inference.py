"""Inference benchmarks: batch-1 latency (one tweet per request) and batch-256 throughput.

The model is in eval mode under ``torch.no_grad()`` (Lightning's predict uses inference mode on
CPU/GPU and no_grad on XLA; no_grad is the one that is the same on every device).
"""

from __future__ import annotations

import pytest
import torch
from benchrig import Mode, Rig, samples_per_s

# (batch size, group, full-mode rounds, full-mode warm-up rounds)
SCENARIOS = [
    pytest.param(1, "infer-batch1", 1000, 50, id="batch1"),
    pytest.param(256, "infer-batch256", 40, 5, id="batch256"),
]


@pytest.mark.parametrize(("batch_size", "group", "rounds", "warmup"), SCENARIOS)
def test_inference(benchmark, rig: Rig, mode: Mode, batch_size: int, group: str, rounds: int, warmup: int) -> None:
    """``predict_step`` on a fixed validation batch of ``batch_size`` tweets, then a device sync."""
    module, backend = rig.module, rig.backend
    module.eval()
    tokens = rig.eval_tokens(batch_size)
    batch = (tokens, torch.zeros(batch_size, dtype=torch.long, device=rig.device))

    def predict() -> torch.Tensor:
        with torch.no_grad():
            logits = module.predict_step(batch, 0)
        backend.synchronize()
        return logits

    benchmark.group = group
    try:
        logits = benchmark.pedantic(predict, **mode.rounds(full_rounds=rounds, full_warmup=warmup))
    finally:
        module.train()
    assert logits.shape == (batch_size, rig.data.num_classes)
    benchmark.extra_info.update(rig.info(batch_size=batch_size, samples_per_s=samples_per_s(benchmark, batch_size),
                                         mode=mode.name))
