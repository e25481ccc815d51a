"""Lightning's per-step SIGTERM broadcast under DDP: timed on every call, and thinned to one call every N steps.

Lightning 2.6's training loop calls ``_TrainingEpochLoop._broadcast_sigterm_tensor()`` at the start of every
step once ``torch.distributed`` is initialised with more than one rank (``loops/training_epoch_loop.py``;
Lightning issue #21487): it builds a one-element tensor on the device, broadcasts it from rank 0 and reads
it back with ``.item()``. On a GPU that is a host-to-device copy, an NCCL broadcast and a full device
synchronisation, every step; on CPU (gloo) a small collective. Lightning 2.6 has no switch for it (an open
pull request, #21640, proposes ``Trainer(broadcast_sigterm_every_n_steps=N)``).

``SigtermBroadcast`` wraps the loop's method on the loop instance, for one ``fit``: every call is timed,
and with ``every_n > 1`` only every N-th step broadcasts, so a SIGTERM still reaches every rank within N
steps (Lightning's own handler keeps running; tweetbench's ranks also stop on their own SIGTERM handler and
bound each collective with a timeout). ``every_n=1`` keeps Lightning's behaviour and still times it.
The steps that broadcast against those that did not, in one measured window, give what the call costs a
step with its synchronisation included.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl

# tweetbench's default: one broadcast every 10 steps (PR #21640's example), so a SIGTERM waits <= 9 steps more.
SIGTERM_EVERY_N = 10
METHOD = "_broadcast_sigterm_tensor"
HOW = ("Lightning 2.6 broadcasts a SIGTERM flag from rank 0 at the start of every DDP step (a device tensor, "
       "a broadcast and .item(): a device sync). tweetbench wraps the training loop's _broadcast_sigterm_tensor "
       "for each fit: it times every call and, with every_n_steps > 1, broadcasts only every N-th step.")


class SigtermBroadcast(pl.Callback):
    """Times Lightning's per-step SIGTERM broadcast, step by step, and thins it to every ``every_n`` steps.

    ``per_step`` holds, for each training step in order, the seconds spent in the broadcast (0.0 for a
    step that skipped it) and ``called`` whether it ran; ``present`` is False when this Lightning has no
    such call (then nothing is wrapped, and the record says so).
    """

    def __init__(self, every_n: int = SIGTERM_EVERY_N, clock: Callable[[], float] = time.perf_counter) -> None:
        if every_n < 1:
            raise ValueError(f"every_n must be 1 or more, not {every_n}")
        self.every_n, self.clock = every_n, clock
        self.present = False
        self.per_step: list[float] = []
        self.called: list[bool] = []
        self._loop: Any = None
        self._own: Any = None
        self._seen = 0
        self._pending: tuple[float, bool] = (0.0, False)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loop = trainer.fit_loop.epoch_loop
        original = getattr(loop, METHOD, None)
        self.present = callable(original)
        if not self.present:
            return
        self._loop, self._own = loop, vars(loop).get(METHOD)  # an instance's own attribute is put back as it was

        def broadcast() -> None:
            self._seen += 1
            if (self._seen - 1) % self.every_n:
                self._pending = (0.0, False)
                return
            started = self.clock()
            try:
                original()
            finally:
                self._pending = (self.clock() - started, True)

        setattr(loop, METHOD, broadcast)  # an instance attribute: the class's method is untouched

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self.present:
            seconds, called = self._pending
            self.per_step.append(seconds)
            self.called.append(called)
            self._pending = (0.0, False)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._loop is not None:
            if self._own is not None:
                setattr(self._loop, METHOD, self._own)
            else:
                delattr(self._loop, METHOD)
        self._loop = self._own = None


def sigterm_section(every_n: int, present: bool, distributed: bool, call_s: list[list[float]],
                    steps: list[list[float]], called: list[list[bool]]) -> dict[str, Any]:
    """The record's ``distributed.lightning_sigterm``: what the broadcast cost, per rank pooled.

    ``call_s``, ``steps`` and ``called`` are each rank's measured steps: the broadcast's seconds, the whole
    step's seconds and whether the step broadcast. ``step_cost_ms`` is the median step that broadcast minus
    the median step that did not (every rank pooled): the call with the synchronisation it forces.
    """
    section: dict[str, Any] = {"every_n_steps": every_n, "how": HOW, "calls": 0, "ms_per_call": None,
                               "ms_per_step_lightning_default": None, "share_of_step_lightning_default": None,
                               "step_cost_ms": None}
    if not distributed:
        return {**section, "applies": False,
                "reason": "Lightning broadcasts only once torch.distributed is initialised (not under XLA)"}
    if not present:
        return {**section, "applies": False, "reason": f"this Lightning's training loop has no {METHOD}"}
    made = [s for rank_s, rank_called in zip(call_s, called) for s, c in zip(rank_s, rank_called) if c]
    section.update({"applies": True, "reason": "", "calls": len(made)})
    if not made:
        return section
    per_call = statistics.median(made)
    step = statistics.median(s for rank in steps for s in rank)
    with_call = [s for rank_s, rank_c in zip(steps, called) for s, c in zip(rank_s, rank_c) if c]
    without = [s for rank_s, rank_c in zip(steps, called) for s, c in zip(rank_s, rank_c) if not c]
    section.update({
        "ms_per_call": per_call * 1e3,
        # Lightning's default broadcasts every step: what it would add to each (call time alone).
        "ms_per_step_lightning_default": per_call * 1e3,
        "share_of_step_lightning_default": per_call / step if step > 0 else None,
        "step_cost_ms": ((statistics.median(with_call) - statistics.median(without)) * 1e3
                         if with_call and without else None),
    })
    return section
