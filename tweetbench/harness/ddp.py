"""Lightning's side of a data-parallel run, on one rank: the timed training pass under the strategy
(agreed warm-up, per-step all-reduce timing through a DDP communication hook) and the profiled pass.

``tweetbench.distributed`` holds the rest (who the ranks are, gathering, the record) and imports
this module only inside a rank, so that the command line never pays for importing Lightning.
"""

from __future__ import annotations

import math
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.profilers import SimpleProfiler
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel

from tweetbench.config import DeviceJob
from tweetbench.dataset import EncodedSplit
from tweetbench.devices import DeviceBackend
from tweetbench.devices.base import EventClock
from tweetbench.distributed import (
    FAULT_BATCH,
    RankInfo,
    RankRun,
    RankWatch,
    non_pad_tokens,
    rank_fault,
    rank_loader,
    trainer_options,
)
from tweetbench.harness.clock import StepClock
from tweetbench.harness.train import STEADY_CV, STEADY_WINDOW
from tweetbench.harness.trainer import make_trainer
from tweetbench.module import TweetClassifier
from tweetbench.profiling import breakdown_from_durations
from tweetbench.scaling import union_seconds
from tweetbench.stats import SteadyStateDetector


class AgreedDetector:
    """A steady-state detector whose verdict is the ranks' joint one: warm-up ends when all agree.

    Without it each rank would open its measured window at its own step and the ranks would
    measure different steps. The all-reduce runs after the step's clock was read, so it falls
    into no measured step but the first.
    """

    def __init__(self, inner: Any, device: torch.device, watch: RankWatch) -> None:
        self.inner, self.device, self.watch = inner, device, watch

    def observe(self, step_seconds: float) -> bool:
        local = self.inner.observe(step_seconds)
        if not dist.is_available() or not dist.is_initialized():
            return bool(local)
        flag = torch.tensor([1 if local else 0], dtype=torch.int32, device=self.device)
        self.watch.enter_collective()
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        agreed = bool(flag.item())
        self.watch.leave_collective()
        return agreed

    @property
    def rule(self) -> str:
        return f"{self.inner.rule}; warm-up ends when every rank's steps have settled"

    @property
    def capped(self) -> bool:
        return bool(self.inner.capped)


# --------------------------------------------------------------------------- communication timing


class CommTimer(pl.Callback):
    """Times every gradient all-reduce through a DDP communication hook, step by step.

    The hook is Lightning's default all-reduce (``allreduce_hook``: average the bucket over the
    ranks) with a mark at launch and one when its future completes. At the end of each step the
    marks become one figure: the union of the step's in-flight intervals. On CPU (gloo) the future
    completes when the reduced data is there; on CUDA (NCCL) it completes at enqueue, so the marks
    are stream events (``DeviceBackend.event_clock``). Registered only under DDP; elsewhere
    ``measured`` stays False.
    """

    def __init__(self, clock: EventClock, watch: RankWatch) -> None:
        self.clock, self.watch = clock, watch
        self.measured = False
        self.per_step: list[float] = []
        self.buckets_per_step: list[int] = []
        self.bytes_per_step: list[int] = []
        self._open: list[tuple[int, Any, Any, int]] = []
        self._seq = 0
        self._lock = threading.Lock()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        model = trainer.strategy.model
        if isinstance(model, DistributedDataParallel) and not self.measured:
            model.register_comm_hook(state=None, hook=self._hook)
            self.measured = True

    # No annotations: DDP refuses a hook whose annotations are not the real GradBucket / Future
    # classes, and with postponed evaluation they would be strings.
    def _hook(self, state, bucket):  # type: ignore[no-untyped-def]
        with self._lock:
            seq = self._seq
            self._seq += 1
        self.watch.enter_collective()
        start = self.clock.mark()
        buffer = bucket.buffer()
        size = buffer.numel() * buffer.element_size()

        def done(future: torch.futures.Future[torch.Tensor]) -> torch.Tensor:
            end = self.clock.mark()
            with self._lock:
                self._open.append((seq, start, end, size))
            self.watch.leave_collective()
            return future.value()

        return allreduce_hook(state, bucket).then(done)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if not self.measured:
            return
        # After StepClock's hook (callbacks run in order): the device is synchronised, every event is done.
        with self._lock:
            spans, self._open = self._open, []
        if spans:
            spans.sort(key=lambda span: span[0])
            ref = spans[0][1]
            seconds = [(self.clock.seconds(ref, start), self.clock.seconds(ref, end)) for _, start, end, _ in spans]
            self.per_step.append(union_seconds(seconds))
        else:
            self.per_step.append(0.0)
        self.buckets_per_step.append(len(spans))
        self.bytes_per_step.append(sum(span[3] for span in spans))


class _Fault(pl.Callback):
    """Makes this rank crash or hang at batch ``FAULT_BATCH``, once every rank is in the loop."""

    def __init__(self, fault: str, rank: int) -> None:
        self.fault, self.rank = fault, rank

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if batch_idx != FAULT_BATCH:
            return
        if self.fault == "crash":
            raise RuntimeError(f"tweetbench test fault: rank {self.rank} crashing on purpose")
        if self.fault == "hang":
            print(f"tweetbench test fault: rank {self.rank} hanging on purpose", file=sys.stderr, flush=True)
            while True:
                time.sleep(1)


def train_rank(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, train: EncodedSplit,
               info: RankInfo, run: RankRun, on_step: Callable[[int], None], watch: RankWatch) -> None:
    """The timed training pass on this rank, under the job's strategy; fills ``run``.

    As in ``harness.train``: warm-up until step time settles (here: on every rank), then
    ``measured_steps`` whole steps timed by the synchronised ``StepClock``.
    """
    assert job.parallel is not None
    wl, preset = job.workload, job.preset
    detector = AgreedDetector(SteadyStateDetector(
        window=min(STEADY_WINDOW, preset.max_warmup_steps), cv_threshold=STEADY_CV,
        min_warmup=preset.min_warmup_steps, max_warmup=preset.max_warmup_steps), backend.torch_device, watch)
    comm = CommTimer(backend.event_clock(), watch)
    clock = StepClock(backend.synchronize, preset.measured_steps, detector=detector, on_step=on_step,
                      on_measure_start=backend.begin_measurement,
                      on_measure_end=lambda: run.device_counters.update(backend.end_measurement()))
    callbacks: list[pl.Callback] = [clock, comm]  # comm after clock: it reads the step once synchronised
    fault = rank_fault(info.rank)
    if fault:
        callbacks.append(_Fault(fault, info.rank))
    total = preset.max_warmup_steps + preset.measured_steps
    loader = rank_loader(train, wl.batch_size, seed=wl.seed, total_batches=total, rank=info.rank,
                         world=info.world_size, pin_memory=backend.pin_memory)
    trainer = make_trainer(backend, max_steps=total, callbacks=callbacks, precision=wl.precision,
                           **trainer_options(job.parallel))
    module.pop_losses()
    started = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    run.losses = [loss if math.isfinite(loss) else None for loss in module.pop_losses()]
    run.warmup_s, run.step_s = list(clock.warmup), list(clock.measured)
    warmup = len(clock.warmup)
    if comm.measured:
        run.comm_s = comm.per_step[warmup:warmup + len(clock.measured)]
        measured_buckets = comm.buckets_per_step[warmup:] or [0]
        run.buckets_per_step = max(measured_buckets)
        run.bytes_per_step = max(comm.bytes_per_step[warmup:] or [0])
    run.non_pad_tokens = non_pad_tokens(loader, warmup, len(clock.measured))
    run.time_to_first_step_s = None if clock.first_step_at is None else clock.first_step_at - started
    run.warmup_rule, run.warmup_capped = detector.rule, detector.capped
    run.process_group_backend = dist.get_backend() if dist.is_available() and dist.is_initialized() else None


def profile_rank(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, train: EncodedSplit,
                 info: RankInfo, run: RankRun, on_step: Callable[[int], None]) -> None:
    """The SimpleProfiler pass on this rank, under the strategy; fills ``run.breakdown``.

    No profile file is written: the breakdown travels to rank 0 in the gathered figures (and the
    ranks of a multi-node run share no directory).
    """
    assert job.parallel is not None
    wl, steps = job.workload, job.preset.profile_steps
    skip = min(job.preset.min_warmup_steps, 5)
    profiler = SimpleProfiler(extended=True)
    clock = StepClock(backend.synchronize, steps, on_step=on_step)
    loader = rank_loader(train, wl.batch_size, seed=wl.seed, total_batches=steps, rank=info.rank,
                         world=info.world_size, pin_memory=backend.pin_memory)
    module.step_sync = backend.part_sync
    try:
        make_trainer(backend, max_steps=steps, callbacks=[clock], profiler=profiler, precision=wl.precision,
                     **trainer_options(job.parallel)).fit(module, loader)
    finally:
        module.step_sync = None
        module.pop_losses()
    measured = clock.measured[skip:] or clock.measured
    run.profiled_step_s = list(measured)
    run.breakdown = breakdown_from_durations(profiler.recorded_durations, statistics.fmean(measured), skip=skip)
