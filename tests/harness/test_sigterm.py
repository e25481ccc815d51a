"""Lightning's per-step SIGTERM broadcast: timed and thinned (harness/sigterm.py), on Lightning's own loop."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.loops.training_epoch_loop import _TrainingEpochLoop

from tweetbench.harness.sigterm import METHOD, SigtermBroadcast, sigterm_section


def test_lightnings_loop_still_has_the_per_step_broadcast():
    # The wrapper needs this private method; if a Lightning release drops it, the record says "not present".
    assert callable(getattr(_TrainingEpochLoop, METHOD))


def _fake_trainer(calls: list[int]) -> SimpleNamespace:
    loop = SimpleNamespace()
    setattr(loop, METHOD, lambda: calls.append(1))
    return SimpleNamespace(fit_loop=SimpleNamespace(epoch_loop=loop))


def _steps(callback: SigtermBroadcast, trainer: SimpleNamespace, n: int) -> None:
    for _ in range(n):
        getattr(trainer.fit_loop.epoch_loop, METHOD)()  # what the loop's advance() does first
        callback.on_train_batch_end(trainer, None)


def test_every_nth_step_broadcasts_and_each_call_is_timed():
    ticks = itertools.count()
    calls: list[int] = []
    trainer = _fake_trainer(calls)
    callback = SigtermBroadcast(every_n=3, clock=lambda: float(next(ticks)))
    callback.on_train_start(trainer, None)
    _steps(callback, trainer, 7)
    assert len(calls) == 3  # steps 1, 4 and 7
    assert callback.called == [True, False, False, True, False, False, True]
    assert callback.per_step == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    callback.on_train_end(trainer, None)
    getattr(trainer.fit_loop.epoch_loop, METHOD)()  # unwrapped again: the call goes straight through
    assert len(calls) == 4 and len(callback.called) == 7


def test_every_step_keeps_lightnings_behaviour_and_a_bad_n_is_refused():
    calls: list[int] = []
    trainer = _fake_trainer(calls)
    callback = SigtermBroadcast(every_n=1)
    callback.on_train_start(trainer, None)
    _steps(callback, trainer, 4)
    assert len(calls) == 4 and all(callback.called)
    with pytest.raises(ValueError, match="every_n must be 1 or more"):
        SigtermBroadcast(every_n=0)


def test_a_lightning_without_the_broadcast_is_said_so():
    trainer = SimpleNamespace(fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace()))
    callback = SigtermBroadcast()
    callback.on_train_start(trainer, None)
    callback.on_train_batch_end(trainer, None)
    assert not callback.present and callback.per_step == []
    section = sigterm_section(10, False, True, [[]], [[0.01]], [[]])
    assert not section["applies"] and "has no _broadcast_sigterm_tensor" in section["reason"]
    assert "not under XLA" in sigterm_section(10, True, False, [[]], [[0.01]], [[]])["reason"]


def test_the_section_prices_a_call_and_the_step_it_slows():
    steps = [[0.012, 0.010, 0.010, 0.012, 0.010], [0.013, 0.010, 0.011, 0.012, 0.010]]
    called = [[True, False, False, True, False]] * 2
    calls = [[0.002, 0, 0, 0.002, 0], [0.003, 0, 0, 0.001, 0]]
    section = sigterm_section(3, True, True, calls, steps, called)
    assert section["applies"] and section["calls"] == 4
    assert section["ms_per_call"] == pytest.approx(2.0)
    assert section["step_cost_ms"] == pytest.approx(2.0)  # median 12 ms with the call, 10 ms without
    assert section["share_of_step_lightning_default"] == pytest.approx(0.002 / 0.0105)


def test_on_a_real_trainer_the_broadcast_is_wrapped_and_counted(tmp_path):
    import pytorch_lightning as pl

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callback = SigtermBroadcast(every_n=2)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=5, callbacks=[callback], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    trainer.fit(Tiny(), torch.utils.data.DataLoader(torch.randn(10, 2), batch_size=2))
    # One process: Lightning does not broadcast (no process group), so the wrapper is never reached.
    assert callback.present and callback.per_step == [0.0] * 5 and not any(callback.called)
    assert METHOD not in vars(trainer.fit_loop.epoch_loop)
