"""Training-side benchmarks: one whole optimizer step, and the forward pass alone."""

from __future__ import annotations

import torch
from benchrig import Mode, Rig, samples_per_s


def test_train_step(benchmark, rig: Rig, mode: Mode) -> None:
    """Forward, loss (the LightningModule's ``training_step``), backward and Adam step on one
    fixed training batch, then a device sync."""
    module, backend = rig.module, rig.backend
    module.train()
    optimizer = module.configure_optimizers()
    batch = rig.train_batch

    def step() -> None:
        loss = module.training_step(batch, 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        backend.synchronize()

    benchmark.group = "train-step"
    benchmark.pedantic(step, teardown=module.losses.clear, **mode.rounds(full_rounds=200, full_warmup=20))
    batch_size = batch[0].shape[0]
    benchmark.extra_info.update(rig.info(batch_size=batch_size, samples_per_s=samples_per_s(benchmark, batch_size),
                                         mode=mode.name))
    assert module.losses == []  # the teardown ran: nothing accumulates across rounds


def test_forward(benchmark, rig: Rig, mode: Mode) -> None:
    """The forward pass of a training batch as training runs it (train mode, autograd recording),
    without the backward, then a device sync: the forward share of ``test_train_step``."""
    module, backend = rig.module, rig.backend
    module.train()
    tokens = rig.train_batch[0]

    def forward() -> torch.Tensor:
        logits = module(tokens)
        backend.synchronize()
        return logits

    benchmark.group = "forward"
    logits = benchmark.pedantic(forward, **mode.rounds(full_rounds=200, full_warmup=20))
    assert logits.shape == (tokens.shape[0], rig.data.num_classes) and logits.requires_grad
    batch_size = tokens.shape[0]
    benchmark.extra_info.update(rig.info(batch_size=batch_size, samples_per_s=samples_per_s(benchmark, batch_size),
                                         mode=mode.name))
