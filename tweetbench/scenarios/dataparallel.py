"""The data-parallel benchmark scenario: training and the profiled pass under Lightning's strategy.

What a data-parallel run measures, on every rank (the Lightning side is ``harness/ddp.py``):

1. Training under the strategy. Each rank trains on its own share of the seeded batch stream
   (rank r takes batches r, r+N, r+2N, ...) at the workload's batch size (weak scaling). The
   ranks agree on where warm-up ends (an all-reduce of the steady-state verdict), so every rank
   measures the same steps. A DDP communication hook times each gradient all-reduce.
2. Per-rank profiles (SimpleProfiler), merged into one breakdown by ``scaling.merge_breakdowns``.

Then every rank's figures are gathered to rank 0 (``all_gather_object``), which alone returns the
outcome. Inference, the bare-PyTorch overhead comparison, the AdvancedProfiler pass and the
numerical-parity check are single-device questions: the single-device scaling reference answers them.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tweetbench.analysis import scaling
from tweetbench.analysis.summary import step_summary
from tweetbench.config import DeviceJob, ParallelPlan
from tweetbench.devices import DeviceBackend
from tweetbench.harness.ddp import profile_rank, spawned_runs, train_rank
from tweetbench.harness.launcher import LaunchEnv
from tweetbench.harness.memory import PeakRSS
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.harness.rank_files import REPORT_ENV, RankWatch
from tweetbench.harness.ranks import RankInfo, RankRun, gather
from tweetbench.harness.sigterm import SIGTERM_EVERY_N, sigterm_section
from tweetbench.scenarios.outcome import Outcome
from tweetbench.workload.dataset import TweetData
from tweetbench.workload.module import TweetClassifier

COMM_METHOD = ("DDP communication hook around each gradient bucket's all-reduce: per step, the time with "
               "at least one all-reduce in flight (launch to completion, as the device's event clock sees "
               "it). Includes waiting for slower ranks and, on GPUs, time overlapped with the backward pass: "
               "an upper bound on what communication costs.")


def run_distributed_benchmark(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData,
                              progress: ProgressEmitter) -> Outcome | None:
    """This rank's part of a data-parallel run; rank 0 returns the whole run's outcome, the others None."""
    assert job.parallel is not None
    if job.parallel.spawned:
        # The ranks run inside Lightning's launcher; this process drives them and reads their figures.
        phases_s: dict[str, float] = {}
        with contextlib.ExitStack() as stack:
            prefix = os.environ.get(REPORT_ENV) or str(
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tweetbench-ranks-"))) / "job")
            spawned = spawned_runs(job, backend, module, data.train, prefix, progress, phases_s)
        return _rank0_outcome(job, spawned, Outcome(phases_s=phases_s))
    info = RankInfo.current(job.parallel)
    if info.rank != 0:
        progress = ProgressEmitter(open(os.devnull, "w"))  # noqa: SIM115 (lives as long as the process)
    run = RankRun(info.rank, info.local_rank, info.node_rank, info.host, os.getpid(), torch.get_num_threads())
    phases: dict[str, float] = {}
    with RankWatch(info.rank) as watch, PeakRSS() as rss:

        def on_step(done: int) -> None:
            watch.on_step(done)
            progress.step(done)

        backend.reset_peak_memory()
        started = time.perf_counter()
        watch.phase = "train"
        progress.start_phase("train", job.preset.max_warmup_steps + job.preset.measured_steps)
        train_rank(job, backend, module, data.train, info, run, on_step, watch)
        phases["train"] = time.perf_counter() - started
        if job.profile:
            started = time.perf_counter()
            watch.phase = "profile"
            progress.start_phase("profile", job.preset.profile_steps)
            profile_rank(job, backend, module, data.train, info, run, on_step)
            phases["profile"] = time.perf_counter() - started
        run.device_memory = backend.memory()
        run.torch_threads = torch.get_num_threads()  # Lightning sets it when it starts the ranks
        run.peak_rss_bytes = rss.peak
        watch.phase = "gather"
        watch.enter_collective()
        runs = [RankRun(**r) for r in gather(run.__dict__)]
        watch.leave_collective()
    if info.rank != 0:
        return None
    return _rank0_outcome(job, runs, Outcome(phases_s=phases))


def _rank0_outcome(job: DeviceJob, runs: list[RankRun], outcome: Outcome) -> Outcome:
    """The whole run's outcome from every rank's figures."""
    outcome.metrics, outcome.distributed = distributed_metrics(job, runs)
    outcome.breakdown = merged_breakdown(runs, outcome.distributed)
    non_finite = outcome.metrics["training"]["non_finite_loss_step"]
    if non_finite is not None:
        outcome.status, outcome.reason = "invalid", f"training loss became NaN/Inf at step {non_finite} on some rank"
    return outcome


def distributed_metrics(job: DeviceJob, runs: list[RankRun]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's ``metrics`` and ``distributed`` sections from every rank's figures."""
    plan = job.parallel
    assert plan is not None
    first = runs[0]
    metrics = {
        "training": _training(job.workload.batch_size, plan, runs),
        "device_counters": first.device_counters,
        "memory": {
            "peak_rss_bytes": max(r.peak_rss_bytes for r in runs),
            "scope": "the largest rank's peak RSS; every rank's is under distributed.ranks",
            "device": first.device_memory,
        },
    }
    return metrics, _distributed(job.workload.batch_size, plan, runs)


def _training(batch: int, plan: ParallelPlan, runs: list[RankRun]) -> dict[str, Any]:
    """The ``training`` metrics of the whole job: per step, the slowest rank's step."""
    steps = [r.step_s for r in runs]
    job_steps = scaling.slowest_rank_steps(steps)
    slowest_seconds = max(sum(s) for s in steps)
    first = runs[0]
    finite = [loss for loss in first.losses if loss is not None]
    bad_steps = [next((i for i, loss in enumerate(r.losses, 1) if loss is None), None) for r in runs]
    return {
        "samples_per_s": scaling.global_samples_per_s(batch, steps),
        "tokens_per_s": sum(r.non_pad_tokens for r in runs) / slowest_seconds,
        "step_ms": step_summary(job_steps).to_dict(),
        "final_loss": first.losses[-1] if first.losses else None,
        "first_loss": finite[0] if finite else None,
        "batch_size": batch,
        "global_batch": batch * plan.world_size,
        "time_to_first_step_s": first.time_to_first_step_s,
        "warmup_steps": len(first.warmup_s),
        "warmup_rule": first.warmup_rule,
        "warmup_capped": first.warmup_capped,
        "measured_steps": len(job_steps),
        "measured_seconds": slowest_seconds,
        "non_finite_loss_step": min((s for s in bad_steps if s is not None), default=None),
        "step_definition": "per step, the slowest rank's whole step",
        "raw_step_s": job_steps,
        "raw_warmup_s": first.warmup_s,
        "raw_loss": first.losses,
    }


def _rank_figures(batch: int, r: RankRun) -> dict[str, Any]:
    figures = scaling.rank_figures(r.rank, batch, r.step_s, r.comm_s)
    figures.update({"local_rank": r.local_rank, "node_rank": r.node_rank, "host": r.host, "pid": r.pid,
                    "torch_threads": r.torch_threads, "peak_rss_bytes": r.peak_rss_bytes,
                    "device_memory": r.device_memory, "breakdown": r.breakdown,
                    "device_counters": r.device_counters})
    return figures


def _communication(plan: ParallelPlan, runs: list[RankRun], ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """The all-reduce's share of the step and its mean time per step over the ranks (``ranks``: their figures)."""
    steps = [r.step_s for r in runs]
    comm = [r.comm_s for r in runs] if all(r.comm_s is not None for r in runs) else None
    communication: dict[str, Any] = {"measured": comm is not None, "method": COMM_METHOD, "share": None}
    if comm is not None:
        communication.update({
            "share": scaling.communication_share(steps, comm),
            "ms_per_step": statistics.fmean(rank["comm_ms"]["mean"] for rank in ranks),
            "buckets_per_step": runs[0].buckets_per_step,
            "bytes_per_step": runs[0].bytes_per_step,
        })
    elif plan.strategy == "xla":
        communication["method"] = ("not measured: under XLA the gradient all-reduce is compiled into the step's own "
                                   "graph, with no hook around it (torch_xla's profiler would be needed)")
    else:
        communication["method"] = f"not measured: the {plan.strategy} strategy has no DDP communication hook"
    return communication


def _distributed(batch: int, plan: ParallelPlan, runs: list[RankRun]) -> dict[str, Any]:
    """The record's ``distributed`` section: the world, every rank, stragglers and communication."""
    steps = [r.step_s for r in runs]
    comm = [r.comm_s for r in runs] if all(r.comm_s is not None for r in runs) else None
    section = scaling.parallel_section(plan.strategy, plan.world_size, plan.num_nodes, plan.devices, batch,
                                       scaling.PENDING)
    ranks = [_rank_figures(batch, r) for r in runs]
    section.update({
        "launcher": _launcher_name(),
        "process_group_backend": runs[0].process_group_backend,
        "ranks": ranks,
        "straggler": scaling.stragglers(steps, comm),
        "communication": _communication(plan, runs, ranks),
        "lightning_sigterm": _sigterm(plan, runs),
    })
    return {key: section[key] for key in _SECTION_ORDER}


def _sigterm(plan: ParallelPlan, runs: list[RankRun]) -> dict[str, Any]:
    """What Lightning's per-step SIGTERM broadcast cost this run's measured steps (``harness/sigterm.py``)."""
    present = all(r.sigterm_s is not None and r.sigterm_called is not None for r in runs)
    return sigterm_section(SIGTERM_EVERY_N, present, plan.strategy == "ddp",
                           [r.sigterm_s or [] for r in runs], [r.step_s for r in runs],
                           [r.sigterm_called or [] for r in runs])


# The order of the distributed section's keys in the record.
_SECTION_ORDER = ("strategy", "launcher", "process_group_backend", "world_size", "num_nodes", "devices_per_node",
                  "per_device_batch", "global_batch", "ranks", "straggler", "communication", "lightning_sigterm",
                  "scaling")


def merged_breakdown(runs: list[RankRun], distributed: dict[str, Any]) -> dict[str, Any] | None:
    """Every rank's profile merged into one breakdown; None when the profiled pass did not run.

    The profiled pass's mean step is set against the mean of the ranks' timed p50 steps, read from the
    ``distributed`` section (``ranks[*].step_ms.p50``)."""
    breakdowns = [r.breakdown for r in runs if r.breakdown is not None]
    if len(breakdowns) != len(runs) or not breakdowns:
        return None
    merged = scaling.merge_breakdowns(breakdowns)
    profiled_ms = statistics.fmean(step_summary(r.profiled_step_s).mean for r in runs)
    unprofiled_ms = statistics.fmean(rank["step_ms"]["p50"] for rank in distributed["ranks"])
    merged.update({
        "profiled_step_ms": profiled_ms,
        "unprofiled_step_ms": unprofiled_ms,
        "profiler_overhead": profiled_ms / unprofiled_ms - 1.0,
        "top_functions": [],
        "per_rank": "distributed.ranks[*].breakdown",
    })
    return merged


def _launcher_name() -> str:
    launched = LaunchEnv.detect()
    return launched.launcher if launched is not None else "lightning"
