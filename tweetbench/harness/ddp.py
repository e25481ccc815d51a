"""Lightning's side of a data-parallel run, on one rank: the timed training pass under the strategy
(agreed warm-up, per-step all-reduce timing through a DDP communication hook) and the profiled pass.

``harness/ranks.py`` says who the ranks are, ``harness/rank_files.py`` how they report;
``scenarios/dataparallel.py`` runs these passes and turns every rank's figures into the record.
"""

from __future__ import annotations

import functools
import math
import statistics
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.profilers import SimpleProfiler
from pytorch_lightning.strategies import DDPStrategy, XLAStrategy
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel

from tweetbench import faults
from tweetbench.analysis.breakdown import breakdown_from_durations
from tweetbench.analysis.scaling import union_seconds
from tweetbench.analysis.steady import SteadyStateDetector
from tweetbench.config import DeviceJob, ParallelPlan
from tweetbench.devices import DeviceBackend
from tweetbench.devices.clock import DeviceClock
from tweetbench.harness.memory import PeakRSS
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.harness.rank_files import RankExport, RankWatch, read_rank_exports
from tweetbench.harness.ranks import RankInfo, RankRun, non_pad_tokens, rank_loader
from tweetbench.harness.recorder import StepRecorder
from tweetbench.harness.sigterm import SIGTERM_EVERY_N, SigtermBroadcast
from tweetbench.harness.train import STEADY_CV, STEADY_WINDOW
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit
from tweetbench.workload.module import TweetClassifier


def trainer_options(plan: ParallelPlan, work_dir: Path | None = None) -> dict[str, Any]:
    """The ``Trainer`` arguments that run ``plan``: the strategy, devices per node and nodes.

    Lightning's distributed sampler stays off: ``rank_loader`` already gives each rank its share.
    Under the XLA strategy Lightning's launcher hands rank 0's weights back to the launching
    process through a checkpoint in the Trainer's root directory: ``work_dir``, not the user's
    working directory.
    """
    if plan.strategy == "xla":
        options: dict[str, Any] = {"strategy": XLAStrategy(sync_module_states=True), "devices": plan.devices}
        if work_dir is not None:
            options["default_root_dir"] = str(work_dir)
        return {**options, "use_distributed_sampler": False}
    timeout = timedelta(seconds=plan.timeout_s) if plan.timeout_s else None
    strategy = DDPStrategy(timeout=timeout) if timeout else DDPStrategy()
    return {"strategy": strategy, "devices": plan.devices, "num_nodes": plan.num_nodes,
            "use_distributed_sampler": False}


class AgreedDetector(pl.Callback):
    """A steady-state detector whose verdict is the ranks' joint one: warm-up ends when all agree.

    Without it each rank would open its measured window at its own step and the ranks would
    measure different steps. The vote is the strategy's own (``reduce_boolean_decision``: an
    all-reduce under DDP and XLA alike); it runs after the step's clock was read, so it falls into
    no measured step but the first. A callback only to learn the strategy when training starts.
    """

    def __init__(self, inner: Any, watch: RankWatch) -> None:
        self.inner, self.watch = inner, watch
        self.strategy: Any = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.strategy = trainer.strategy

    def observe(self, step_seconds: float) -> bool:
        local = bool(self.inner.observe(step_seconds))
        if self.strategy is None or self.strategy.world_size <= 1:
            return local
        self.watch.enter_collective()
        agreed = bool(self.strategy.reduce_boolean_decision(local, all=True))
        self.watch.leave_collective()
        return agreed

    @property
    def rule(self) -> str:
        return f"{self.inner.rule}; warm-up ends when every rank's steps have settled"

    @property
    def capped(self) -> bool:
        return bool(self.inner.capped)


# --------------------------------------------------------------------------- communication timing


class CommRecorder(pl.Callback):
    """Times every gradient all-reduce through a DDP communication hook, step by step.

    The hook is Lightning's default all-reduce (``allreduce_hook``: average the bucket over the
    ranks) with a mark at launch and one when its future completes. At the end of each step the
    marks become one figure: the union of the step's in-flight intervals. On CPU (gloo) the future
    completes when the reduced data is there; on CUDA (NCCL) it completes at enqueue, so the marks
    are stream events (``DeviceBackend.clock``). Registered only under DDP; elsewhere
    ``measured`` stays False.
    """

    def __init__(self, clock: DeviceClock, watch: RankWatch) -> None:
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
        # After StepRecorder's hook (callbacks run in order): the device is synchronised, every event is done.
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
    """The test suite's rank faults (``tweetbench.faults``), at the start of every training batch. The
    rank is the trainer's, so that it also holds in ranks that Lightning's launcher spawned."""

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        faults.rank_batch_fault(trainer.global_rank, batch_idx)


class _Rank0Progress(pl.Callback):
    """Progress from rank 0 only, counted per batch: for ranks that Lightning's launcher spawned,
    which all inherit the worker's output stream."""

    def __init__(self, on_step: Callable[[int], None]) -> None:
        self.on_step, self.done = on_step, 0

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.done += 1
        if trainer.global_rank == 0:
            self.on_step(self.done)


def _callback(trainer: pl.Trainer, kind: type[Any]) -> Any:
    return next(cb for cb in trainer.callbacks if isinstance(cb, kind))  # type: ignore[attr-defined]


def _collect_train(backend: DeviceBackend, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, Any]:
    """In a spawned rank, after its timed training pass: what ``train_rank`` records for it."""
    recorder, detector = _callback(trainer, StepRecorder), _callback(trainer, AgreedDetector)
    losses = module.pop_losses()  # type: ignore[operator]
    return {"warmup_s": list(recorder.warmup), "step_s": list(recorder.measured),
            "first_step_at": recorder.first_step_at,
            "losses": [loss if math.isfinite(loss) else None for loss in losses],
            "warmup_rule": detector.rule, "warmup_capped": detector.capped,
            "device_counters": recorder.window,
            "peak_rss_bytes": PeakRSS.kernel_peak_bytes(), "device_memory": backend.memory(),
            # Lightning's XLAStrategy reduces through torch_xla's collectives, not a torch.distributed group.
            "process_group_backend": dist.get_backend() if dist.is_available() and dist.is_initialized() else "xla"}


def _collect_profile(skip: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, Any]:
    """In a spawned rank, after its profiled pass: its breakdown and profiled step times."""
    recorder = _callback(trainer, StepRecorder)
    measured = recorder.measured[skip:] or recorder.measured
    module.pop_losses()  # type: ignore[operator]
    return {"profiled_step_s": list(measured),
            "breakdown": breakdown_from_durations(trainer.profiler.recorded_durations,  # type: ignore[attr-defined]
                                                  statistics.fmean(measured), skip=skip)}


def _train_callbacks(job: DeviceJob, backend: DeviceBackend, watch: RankWatch,
                     on_step: Callable[[int], None] | None) -> tuple[StepRecorder, AgreedDetector, CommRecorder,
                                                                    list[pl.Callback]]:
    """The timed pass's step recorder, agreed warm-up detector, communication timer and every callback (the
    last one, ``SigtermBroadcast``, times and thins Lightning's per-step SIGTERM broadcast)."""
    preset = job.preset
    detector = AgreedDetector(SteadyStateDetector(
        window=min(STEADY_WINDOW, preset.max_warmup_steps), cv_threshold=STEADY_CV,
        min_warmup=preset.min_warmup_steps, max_warmup=preset.max_warmup_steps), watch)
    comm = CommRecorder(backend.clock(), watch)
    recorder = StepRecorder(backend.synchronize, preset.measured_steps, detector=detector, on_step=on_step,
                            on_measure_start=backend.begin_measurement, on_measure_end=backend.end_measurement)
    # The detector learns the strategy first; comm after the recorder: it reads the step once synchronised.
    return recorder, detector, comm, [detector, recorder, comm, _Fault(), SigtermBroadcast(SIGTERM_EVERY_N)]


def train_rank(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, train: EncodedSplit,
               info: RankInfo, run: RankRun, on_step: Callable[[int], None], watch: RankWatch) -> None:
    """The timed training pass on this rank, under the job's strategy; fills ``run``.

    As in ``harness.train``: warm-up until step time settles (here: on every rank), then
    ``measured_steps`` whole steps timed by the synchronised ``StepRecorder``.
    """
    assert job.parallel is not None
    wl, preset = job.workload, job.preset
    recorder, detector, comm, callbacks = _train_callbacks(job, backend, watch, on_step)
    total = preset.max_warmup_steps + preset.measured_steps
    loader = rank_loader(train, wl.batch_size, seed=wl.seed, total_batches=total, rank=info.rank,
                         world=info.world_size, pin_memory=backend.pin_memory)
    trainer = make_trainer(backend, max_steps=total, callbacks=callbacks, precision=wl.precision,
                           **trainer_options(job.parallel))
    module.pop_losses()
    started = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    run.losses = [loss if math.isfinite(loss) else None for loss in module.pop_losses()]
    run.warmup_s, run.step_s = list(recorder.warmup), list(recorder.measured)
    run.device_counters = recorder.window
    warmup = len(recorder.warmup)
    if comm.measured:
        run.comm_s = comm.per_step[warmup:warmup + len(recorder.measured)]
        measured_buckets = comm.buckets_per_step[warmup:] or [0]
        run.buckets_per_step = max(measured_buckets)
        run.bytes_per_step = max(comm.bytes_per_step[warmup:] or [0])
    sigterm = callbacks[-1]
    assert isinstance(sigterm, SigtermBroadcast)
    if sigterm.present:
        run.sigterm_s = sigterm.per_step[warmup:warmup + len(recorder.measured)]
        run.sigterm_called = sigterm.called[warmup:warmup + len(recorder.measured)]
    run.non_pad_tokens = non_pad_tokens(loader, warmup, len(recorder.measured))
    run.time_to_first_step_s = None if recorder.first_step_at is None else recorder.first_step_at - started
    run.warmup_rule, run.warmup_capped = detector.rule, detector.capped
    run.process_group_backend = dist.get_backend() if dist.is_available() and dist.is_initialized() else None


def _profile_skip(job: DeviceJob) -> int:
    return min(job.preset.min_warmup_steps, 5)


def profile_rank(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, train: EncodedSplit,
                 info: RankInfo, run: RankRun, on_step: Callable[[int], None]) -> None:
    """The SimpleProfiler pass on this rank, under the strategy; fills ``run.breakdown``.

    No profile file is written: the breakdown travels to rank 0 in the gathered figures (and the
    ranks of a multi-node run share no directory).
    """
    assert job.parallel is not None
    wl, steps, skip = job.workload, job.preset.profile_steps, _profile_skip(job)
    profiler = SimpleProfiler(extended=True)
    recorder = StepRecorder(backend.synchronize, steps, on_step=on_step)
    loader = rank_loader(train, wl.batch_size, seed=wl.seed, total_batches=steps, rank=info.rank,
                         world=info.world_size, pin_memory=backend.pin_memory)
    module.step_sync = backend.part_sync
    try:
        callbacks = [recorder, SigtermBroadcast(SIGTERM_EVERY_N)]
        make_trainer(backend, max_steps=steps, callbacks=callbacks, profiler=profiler, precision=wl.precision,
                     **trainer_options(job.parallel)).fit(module, loader)
    finally:
        module.step_sync = None
        module.pop_losses()
    measured = recorder.measured[skip:] or recorder.measured
    run.profiled_step_s = list(measured)
    run.breakdown = breakdown_from_durations(profiler.recorded_durations, statistics.fmean(measured), skip=skip)


def spawned_runs(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, train: EncodedSplit,
                 prefix: str, progress: ProgressEmitter, phases: dict[str, float]) -> list[RankRun]:
    """Both passes under a spawned strategy (XLA), driven from the process that calls ``fit``.

    Lightning's launcher starts the ranks inside each ``fit`` and joins them before it returns;
    each rank writes its figures (``RankExport``) and this process reads them back. The ranks
    number themselves (``trainer.global_rank``), so each loader is built lazily in its rank; here
    the loaders are rebuilt only to count each rank's measured tokens. Rank watch files are not
    written: torch_xla's launcher ends every rank when one fails.
    """
    assert job.parallel is not None
    plan, wl, preset = job.parallel, job.workload, job.preset
    world, work_dir = plan.world_size, Path(prefix).parent
    quiet = RankWatch(0, environ={})
    recorder, _, _, callbacks = _train_callbacks(job, backend, quiet, on_step=None)
    total = preset.max_warmup_steps + preset.measured_steps
    loaders = [rank_loader(train, wl.batch_size, seed=wl.seed, total_batches=total, rank=r, world=world)
               for r in range(world)]
    progress.start_phase("train", total)
    callbacks += [_Rank0Progress(progress.step), RankExport(prefix, "train", functools.partial(_collect_train, backend))]
    trainer = make_trainer(backend, max_steps=total, callbacks=callbacks, precision=wl.precision,
                           **trainer_options(plan, work_dir))
    module.pop_losses()
    started = time.perf_counter()
    # Every rank takes its share of the stream: the loader holds all shares and picks by rank.
    trainer.fit(module, datamodule=_ByRank(loaders))
    phases["train"] = time.perf_counter() - started
    trained = read_rank_exports(prefix, "train", world)
    profiled: list[dict[str, Any]] = [{} for _ in range(world)]
    if job.profile:
        steps, skip = preset.profile_steps, _profile_skip(job)
        started_profile = time.perf_counter()
        progress.start_phase("profile", steps)
        profile_loaders = [rank_loader(train, wl.batch_size, seed=wl.seed, total_batches=steps, rank=r, world=world)
                           for r in range(world)]
        make_trainer(backend, max_steps=steps, profiler=SimpleProfiler(extended=True), precision=wl.precision,
                     callbacks=[StepRecorder(backend.synchronize, steps), _Rank0Progress(progress.step),
                                RankExport(prefix, "profile", functools.partial(_collect_profile, skip))],
                     **trainer_options(plan, work_dir)).fit(module, datamodule=_ByRank(profile_loaders))
        phases["profile"] = time.perf_counter() - started_profile
        profiled = read_rank_exports(prefix, "profile", world)
    runs = []
    for rank, (figures, profile) in enumerate(zip(trained, profiled)):
        first_step_at = figures.pop("first_step_at")
        figures.update(profile)
        run = RankRun(**figures)
        run.time_to_first_step_s = None if first_step_at is None else first_step_at - started
        run.non_pad_tokens = non_pad_tokens(loaders[rank], len(run.warmup_s), len(run.step_s))
        runs.append(run)
    return runs


class _ByRank(pl.LightningDataModule):
    """One loader per rank; each spawned rank takes its own (``trainer.global_rank``)."""

    def __init__(self, loaders: list[Any]) -> None:
        super().__init__()
        self.loaders = loaders

    def train_dataloader(self) -> Any:
        return self.loaders[self.trainer.global_rank]  # type: ignore[union-attr]
