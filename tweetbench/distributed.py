"""Data-parallel runs on Lightning's strategies over ``torch.distributed``: who the ranks are, how
they train together, how their figures reach rank 0, and how a failing rank ends the run.

A rank comes to exist in one of two ways; tweetbench has no launcher of its own.

* ``tweetbench run --devices cpu:2 --strategy ddp``: the suite starts one worker
  (``python -m tweetbench.worker JOB.json``) with a timeout, in a process group of its own.
  Lightning's DDP launcher re-runs that same command for ranks 1..N-1 (``LOCAL_RANK`` set), as
  children in the same process group, so the suite's timeout kills every rank.
* ``torchrun ... -m tweetbench run ...`` or ``srun ... tweetbench run ...``: the launcher started every
  rank. ``LaunchEnv.detect`` reads its environment and ``run_launched`` runs this rank in-process;
  Lightning picks up the same environment (``TorchElasticEnvironment``, ``SLURMEnvironment``).
* ``tweetbench run --devices tpu:8 --strategy xla``: Lightning's XLA launcher (torch_xla's
  ``xmp.spawn``) starts one rank per TPU core inside each ``fit`` and joins them before ``fit``
  returns, so the worker that calls ``fit`` is none of them. Each rank writes its figures to a file
  (``harness.ddp.RankExport``) that the worker reads back (``harness.ddp.spawned_runs``); the rest is
  as below. One host only.

What a data-parallel run measures (``run_distributed_benchmark``; the Lightning side is in
``harness/ddp.py``, imported only inside a rank), on every rank:

1. Training under the strategy. Each rank trains on its own share of the seeded batch stream
   (rank r takes batches r, r+N, r+2N, ...) at the workload's batch size (weak scaling). The
   ranks agree on where warm-up ends (an all-reduce of the steady-state verdict), so every rank
   measures the same steps. A DDP communication hook times each gradient all-reduce.
2. Per-rank profiles (SimpleProfiler), merged into one breakdown by ``scaling.merge_breakdowns``.

Then every rank's figures are gathered to rank 0 (``all_gather_object``), which alone writes the
record. Inference, the bare-PyTorch overhead comparison, the AdvancedProfiler pass and the
numerical-parity check are single-device questions: the single-device baseline run answers them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import socket
import statistics
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from tweetbench.config import SPAWNED_STRATEGIES, DeviceJob, ParallelPlan
from tweetbench.dataset import EncodedSplit, TweetData, make_loader
from tweetbench.devices import DeviceBackend, DeviceSpec
from tweetbench.errors import ResultsError, UsageError
from tweetbench.progress import ProgressEmitter

if TYPE_CHECKING:
    from tweetbench.benchmark import Outcome
    from tweetbench.module import TweetClassifier
    from tweetbench.records import DeviceResult
    from tweetbench.suite import EventFn, RunOptions, RunOutcome

FAULT_ENV = "TWEETBENCH_TEST_FAULT"
# A test fault fires at the start of this (0-based) training batch, when every rank is in the loop.
FAULT_BATCH = 2
COMM_METHOD = ("DDP communication hook around each gradient bucket's all-reduce: per step, the time with "
               "at least one all-reduce in flight (launch to completion, as the device's event clock sees "
               "it). Includes waiting for slower ranks and, on GPUs, time overlapped with the backward pass: "
               "an upper bound on what communication costs.")

# Variables a launcher sets for its ranks. The single-device baseline that rank 0 starts must not
# see them, or Lightning would take it for a rank of a distributed job.
_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                  "ROLE_RANK", "ROLE_NAME", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK")
_LAUNCHER_PREFIXES = ("TORCHELASTIC_", "SLURM_", "PL_")


# --------------------------------------------------------------------------- launcher environment


def _env_int(environ: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = environ.get(name)
    if text is None:
        if default is None:
            raise UsageError(f"the launcher did not set {name}: start tweetbench with torchrun or srun as the "
                             "README shows")
        return default
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"the launcher set {name}={text!r}, which is not a whole number") from None


@dataclass(frozen=True)
class LaunchEnv:
    """The ranks an external launcher (torchrun or SLURM's srun) started, as its environment says."""

    launcher: str
    world_size: int
    rank: int
    local_rank: int
    node_rank: int

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None) -> LaunchEnv | None:
        """This process's launcher environment, or None when no launcher started it.

        torchrun is recognised by ``TORCHELASTIC_RUN_ID`` (what ``torch.distributed`` itself checks)
        and srun by ``SLURM_NTASKS`` outside an interactive ``bash`` job (Lightning's own rule), so
        tweetbench and Lightning always agree on whether a launcher is in charge.
        """
        env = os.environ if environ is None else environ
        if "TORCHELASTIC_RUN_ID" in env:
            return cls("torchrun", _env_int(env, "WORLD_SIZE"), _env_int(env, "RANK"), _env_int(env, "LOCAL_RANK"),
                       _env_int(env, "GROUP_RANK", 0))
        if "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
            return cls("slurm", _env_int(env, "SLURM_NTASKS"), _env_int(env, "SLURM_PROCID", 0),
                       _env_int(env, "SLURM_LOCALID", 0), _env_int(env, "SLURM_NODEID", 0))
        return None

    def check(self, plan: ParallelPlan) -> None:
        """Refuse, as a usage error, a plan whose world size is not the number of ranks launched."""
        if plan.world_size != self.world_size:
            raise UsageError(
                f"{self.launcher} started {self.world_size} rank(s), but --devices asks for {plan.devices} per node "
                f"x --num-nodes {plan.num_nodes} = {plan.world_size}: make them match (e.g. torchrun "
                "--nproc-per-node N --nnodes M with --devices KIND:N --num-nodes M)")


def single_process_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` without a launcher's variables: for a process that must run as one device alone."""
    env = os.environ if environ is None else environ
    return {key: value for key, value in env.items()
            if key not in _LAUNCHER_VARS and not key.startswith(_LAUNCHER_PREFIXES)}


@dataclass(frozen=True)
class RankInfo:
    """Which rank this process is: global, on its node, and its node."""

    rank: int
    local_rank: int
    node_rank: int
    world_size: int
    host: str = field(default_factory=socket.gethostname)

    @classmethod
    def current(cls, plan: ParallelPlan, environ: Mapping[str, str] | None = None) -> RankInfo:
        """This process's rank: from the external launcher, from the variables Lightning's launcher
        gives the ranks it starts, or rank 0 (the process that is about to start them)."""
        env = os.environ if environ is None else environ
        launched = LaunchEnv.detect(env)
        if launched is not None:
            return cls(launched.rank, launched.local_rank, launched.node_rank, launched.world_size)
        local, node = _env_int(env, "LOCAL_RANK", 0), _env_int(env, "NODE_RANK", 0)
        return cls(node * plan.devices + local, local, node, plan.world_size)


def rank_spec(spec: DeviceSpec, plan: ParallelPlan) -> DeviceSpec:
    """The one device this process's rank drives: its local index among the node's devices."""
    return DeviceSpec(spec.kind, index=RankInfo.current(plan).local_rank)


# --------------------------------------------------------------------------- Lightning strategy


def trainer_options(plan: ParallelPlan, work_dir: Path | None = None) -> dict[str, Any]:
    """The ``Trainer`` arguments that run ``plan``: the strategy, devices per node and nodes.

    Lightning's distributed sampler stays off: ``rank_loader`` already gives each rank its share.
    Under the XLA strategy Lightning's launcher hands rank 0's weights back to the launching
    process through a checkpoint in the Trainer's root directory: ``work_dir``, not the user's
    working directory.
    """
    if plan.strategy == "xla":
        from pytorch_lightning.strategies import XLAStrategy

        options: dict[str, Any] = {"strategy": XLAStrategy(sync_module_states=True), "devices": plan.devices}
        if work_dir is not None:
            options["default_root_dir"] = str(work_dir)
        return {**options, "use_distributed_sampler": False}
    from pytorch_lightning.strategies import DDPStrategy

    timeout = timedelta(seconds=plan.timeout_s) if plan.timeout_s else None
    strategy = DDPStrategy(timeout=timeout) if timeout else DDPStrategy()
    return {"strategy": strategy, "devices": plan.devices, "num_nodes": plan.num_nodes,
            "use_distributed_sampler": False}


class _RankBatches(Sampler[list[int]]):
    """Every ``world``-th batch of a batch sampler, starting at ``rank``: this rank's share."""

    def __init__(self, batches: Sampler[list[int]], rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self.batches):
            if i % self.world == self.rank:
                yield batch

    def __len__(self) -> int:
        return len(self.batches) // self.world  # type: ignore[arg-type]


def rank_loader(split: EncodedSplit, batch_size: int, *, seed: int, total_batches: int, rank: int, world: int,
                pin_memory: bool = False) -> DataLoader:
    """``total_batches`` batches for ``rank``: its share of the seeded stream all ranks together consume.

    Together the ranks see exactly the batches one device would see over ``world`` times the steps.
    """
    whole = make_loader(split, batch_size, seed=seed, total_batches=total_batches * world)
    return DataLoader(whole.dataset, sampler=_RankBatches(whole.sampler, rank, world), batch_size=None,
                      num_workers=0, pin_memory=pin_memory)


def non_pad_tokens(loader: DataLoader, first: int, count: int) -> int:
    """Non-pad tokens in batches ``first .. first+count-1`` of ``loader`` (replayed on the host)."""
    total = 0
    for i, (tokens, _) in enumerate(loader):
        if i >= first + count:
            break
        if i >= first:
            total += int((tokens != 0).sum())
    return total


# --------------------------------------------------------------------------- test faults


def rank_fault(rank: int, environ: Mapping[str, str] | None = None) -> str | None:
    """A fault the test suite injects into one rank, e.g. ``TWEETBENCH_TEST_FAULT=rank1:crash``."""
    env = os.environ if environ is None else environ
    for item in filter(None, env.get(FAULT_ENV, "").split(",")):
        target, _, fault = item.strip().partition(":")
        if target == f"rank{rank}":
            return fault
    return None


# --------------------------------------------------------------------------- gathering and errors


def gather(obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order (a collective: every rank must call it)."""
    if not dist.is_available() or not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


# Set by ``rank_reporting`` in the worker (and inherited by the ranks Lightning starts from it):
# where this job's ranks write their error and whereabouts files, as ``<work dir>/<job key>``.
REPORT_ENV = "TWEETBENCH_RANK_REPORTS"
WATCH_INTERVAL_S = 1.0


def rank_file(prefix: str, rank: int, what: str) -> Path:
    """Where rank ``rank`` of the job at ``prefix`` writes its ``what`` (error, state, or exported figures)."""
    return Path(f"{prefix}.rank{rank}.{what}.json")


@contextlib.contextmanager
def rank_reporting(work_dir: Path, key: str, plan: ParallelPlan | None) -> Iterator[None]:
    """Around one rank's whole job: tell the rank where to report (``RankWatch``), and write its
    exception there before it propagates, so that the parent can name the rank that failed.

    Every rank writes its own files; the earliest error is the cause (the others are usually the
    broken connections it left behind).
    """
    if plan is None:
        yield
        return
    prefix = str(work_dir / key)
    os.environ[REPORT_ENV] = prefix
    try:
        yield
    except BaseException as exc:
        info = RankInfo.current(plan)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        record = {"rank": info.rank, "host": info.host, "at": time.time(),
                  "error": f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
                  "traceback": traceback.format_exc().splitlines()[-12:]}
        with contextlib.suppress(OSError, ResultsError):
            from tweetbench.report.files import write_atomic

            write_atomic(rank_file(prefix, info.rank, "error"), json.dumps(record))
        raise


class RankWatch:
    """This rank's whereabouts (phase, step, whether it waits in a collective), written every second
    by a background thread while the rank trains, so that a rank that hangs can be named.

    Writes nothing outside a worker (``REPORT_ENV`` unset, e.g. under torchrun, which reports
    hung ranks itself through its own timeouts).
    """

    def __init__(self, rank: int, environ: Mapping[str, str] | None = None) -> None:
        prefix = (os.environ if environ is None else environ).get(REPORT_ENV)
        self.path = None if prefix is None else rank_file(prefix, rank, "state")
        self.rank, self.phase, self.step = rank, "setup", 0
        self._waiting = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tweetbench-rank-watch", daemon=True)

    def enter_collective(self) -> None:
        with self._lock:
            self._waiting += 1

    def leave_collective(self) -> None:
        with self._lock:
            self._waiting -= 1

    def on_step(self, done: int) -> None:
        self.step = done

    def state(self) -> dict[str, Any]:
        with self._lock:
            waiting = self._waiting > 0
        return {"rank": self.rank, "phase": self.phase, "step": self.step, "in_collective": waiting,
                "at": time.time()}

    def write(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state()), encoding="utf-8")
            tmp.replace(self.path)

    def _run(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            self.write()

    def __enter__(self) -> RankWatch:
        self.write()
        if self.path is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.phase = "done" if exc[0] is None else "failed"
        self.write()


def _read_reports(work_dir: Path, key: str, what: str) -> list[dict[str, Any]]:
    found = []
    for path in work_dir.glob(f"{key}.rank*.{what}.json"):
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def rank_errors(work_dir: Path, key: str) -> list[dict[str, Any]]:
    """The errors the ranks of job ``key`` recorded, earliest first."""
    return sorted(_read_reports(work_dir, key, "error"), key=lambda record: record.get("at", math.inf))


def _whereabouts(states: list[dict[str, Any]], world_size: int) -> str:
    """Which ranks stopped outside a collective while others waited inside one (the hang's suspects)."""
    if not states:
        return ""  # no rank got as far as training: the log says more
    seen = {s["rank"] for s in states}
    missing = sorted(set(range(world_size)) - seen)
    waiting = sorted(s["rank"] for s in states if s.get("in_collective"))
    stuck = sorted((s for s in states if not s.get("in_collective") and s.get("phase") not in ("done", "failed")),
                   key=lambda s: s["rank"])
    parts = []
    if missing:
        parts.append(f"rank(s) {', '.join(map(str, missing))} never reported (did not start?)")
    if stuck and waiting:
        parts.append("; ".join(f"rank {s['rank']} stopped in {s['phase']} at step {s['step']} outside communication"
                               for s in stuck) + f", while rank(s) {', '.join(map(str, waiting))} waited in a "
                     "collective for it")
    else:
        parts.append("last seen: " + ", ".join(
            f"rank {s['rank']} in {s.get('phase')} at step {s.get('step')}"
            + (" (in a collective)" if s.get("in_collective") else "") for s in sorted(states, key=lambda s: s["rank"])))
    return "; ".join(parts)


def failure_reason(work_dir: Path, key: str, reason: str, world_size: int) -> str:
    """``reason`` (how the worker ended), led by the rank whose error came first, or, for a rank that
    hangs, by where each rank last was."""
    errors = rank_errors(work_dir, key)
    if errors:
        first = errors[0]
        others = sorted({e["rank"] for e in errors[1:]} - {first["rank"]})
        after = f"; then rank(s) {', '.join(map(str, others))} failed too" if others else ""
        return f"rank {first['rank']} failed: {first['error']}{after} ({reason})"
    where = _whereabouts(_read_reports(work_dir, key, "state"), world_size)
    return f"{where} ({reason})" if where else reason


# --------------------------------------------------------------------------- the data-parallel benchmark


@dataclass
class RankRun:
    """What one rank measured, as plain data for ``gather``."""

    rank: int
    local_rank: int
    node_rank: int
    host: str
    pid: int
    torch_threads: int
    warmup_s: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    comm_s: list[float] | None = None
    buckets_per_step: int | None = None
    bytes_per_step: int | None = None
    losses: list[float | None] = field(default_factory=list)
    non_pad_tokens: int = 0
    time_to_first_step_s: float | None = None
    warmup_rule: str = ""
    warmup_capped: bool = False
    breakdown: dict[str, Any] | None = None
    profiled_step_s: list[float] = field(default_factory=list)
    peak_rss_bytes: int = 0
    device_memory: dict[str, Any] = field(default_factory=dict)
    device_counters: dict[str, Any] = field(default_factory=dict)
    process_group_backend: str | None = None


def run_distributed_benchmark(job: DeviceJob, backend: DeviceBackend, module: TweetClassifier, data: TweetData,
                              progress: ProgressEmitter) -> Outcome | None:
    """This rank's part of a data-parallel run; rank 0 returns the whole run's outcome, the others None."""
    from tweetbench.benchmark import Outcome
    from tweetbench.harness.ddp import profile_rank, spawned_runs, train_rank
    from tweetbench.harness.memory import PeakRSS

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
    outcome.breakdown = merged_breakdown(runs)
    non_finite = outcome.metrics["training"]["non_finite_loss_step"]
    if non_finite is not None:
        outcome.status, outcome.reason = "invalid", f"training loss became NaN/Inf at step {non_finite} on some rank"
    return outcome


def distributed_metrics(job: DeviceJob, runs: list[RankRun]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's ``metrics`` and ``distributed`` sections from every rank's figures."""
    from tweetbench import scaling
    from tweetbench.stats import Summary

    plan, batch = job.parallel, job.workload.batch_size
    assert plan is not None
    steps = [r.step_s for r in runs]
    comm = [r.comm_s for r in runs] if all(r.comm_s is not None for r in runs) else None
    job_steps = scaling.slowest_rank_steps(steps)
    slowest_seconds = max(sum(s) for s in steps)
    first = runs[0]
    finite = [loss for loss in first.losses if loss is not None]
    bad_steps = [next((i for i, loss in enumerate(r.losses, 1) if loss is None), None) for r in runs]
    training = {
        "samples_per_s": scaling.global_samples_per_s(batch, steps),
        "tokens_per_s": sum(r.non_pad_tokens for r in runs) / slowest_seconds,
        "step_ms": Summary.from_samples([s * 1e3 for s in job_steps]).to_dict(),
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
    ranks = []
    for r in runs:
        figures = scaling.rank_figures(r.rank, batch, r.step_s, r.comm_s)
        figures.update({"local_rank": r.local_rank, "node_rank": r.node_rank, "host": r.host, "pid": r.pid,
                        "torch_threads": r.torch_threads, "peak_rss_bytes": r.peak_rss_bytes,
                        "device_memory": r.device_memory, "breakdown": r.breakdown,
                        "device_counters": r.device_counters})
        ranks.append(figures)
    communication: dict[str, Any] = {"measured": comm is not None, "method": COMM_METHOD, "share": None}
    if comm is not None:
        communication.update({
            "share": scaling.communication_share(steps, comm),
            "ms_per_step": statistics.fmean(statistics.fmean(c) for c in comm) * 1e3,
            "buckets_per_step": first.buckets_per_step,
            "bytes_per_step": first.bytes_per_step,
        })
    elif plan.strategy == "xla":
        communication["method"] = ("not measured: under XLA the gradient all-reduce is compiled into the step's own "
                                   "graph, with no hook around it (torch_xla's profiler would be needed)")
    else:
        communication["method"] = f"not measured: the {plan.strategy} strategy has no DDP communication hook"
    section = {
        "strategy": plan.strategy,
        "launcher": _launcher_name(),
        "process_group_backend": first.process_group_backend,
        "world_size": plan.world_size,
        "num_nodes": plan.num_nodes,
        "devices_per_node": plan.devices,
        "per_device_batch": batch,
        "global_batch": batch * plan.world_size,
        "ranks": ranks,
        "straggler": scaling.stragglers(steps, comm),
        "communication": communication,
        "scaling": {"efficiency": None, "speedup": None, "reason": scaling.PENDING, "baseline": None},
    }
    metrics = {
        "training": training,
        "device_counters": first.device_counters,
        "memory": {
            "peak_rss_bytes": max(r.peak_rss_bytes for r in runs),
            "scope": "the largest rank's peak RSS; every rank's is under distributed.ranks",
            "device": first.device_memory,
        },
    }
    return metrics, section


def merged_breakdown(runs: list[RankRun]) -> dict[str, Any] | None:
    """Every rank's profile merged into one breakdown; None when the profiled pass did not run."""
    from tweetbench import scaling

    breakdowns = [r.breakdown for r in runs if r.breakdown is not None]
    if len(breakdowns) != len(runs) or not breakdowns:
        return None
    merged = scaling.merge_breakdowns(breakdowns)
    profiled = statistics.fmean(statistics.fmean(r.profiled_step_s) for r in runs)
    unprofiled = statistics.fmean(statistics.median(r.step_s) for r in runs)
    merged.update({
        "profiled_step_ms": profiled * 1e3,
        "unprofiled_step_ms": unprofiled * 1e3,
        "profiler_overhead": profiled / unprofiled - 1.0,
        "top_functions": [],
        "per_rank": "distributed.ranks[*].breakdown",
    })
    return merged


def _launcher_name() -> str:
    launched = LaunchEnv.detect()
    return launched.launcher if launched is not None else "lightning"


def parallel_section(plan: ParallelPlan, per_device_batch: int, reason: str) -> dict[str, Any]:
    """The ``distributed`` section of a data-parallel result that measured nothing (failed, unavailable)."""
    return {
        "strategy": plan.strategy,
        "world_size": plan.world_size,
        "num_nodes": plan.num_nodes,
        "devices_per_node": plan.devices,
        "per_device_batch": per_device_batch,
        "global_batch": per_device_batch * plan.world_size,
        "scaling": {"efficiency": None, "speedup": None, "reason": reason, "baseline": None},
    }


def finish_result(result: DeviceResult, plan: ParallelPlan, per_device_batch: int,
                  baseline: DeviceResult | None, source: str) -> DeviceResult:
    """A data-parallel result made complete: its ``distributed`` section (a minimal one if the run
    measured nothing) with the scaling efficiency against ``baseline`` filled in."""
    from tweetbench.records import K_DISTRIBUTED, DeviceResult as Record
    from tweetbench.scaling import with_scaling

    data = result.to_dict()
    if not data.get(K_DISTRIBUTED):
        data[K_DISTRIBUTED] = parallel_section(plan, per_device_batch, f"this run is {data['status']}")
    return with_scaling(Record(data), baseline, source)


# --------------------------------------------------------------------------- under torchrun / srun


class _EventStream:
    """A text stream that turns a ProgressEmitter's event lines into calls of ``on_event``."""

    def __init__(self, device: str, on_event: EventFn) -> None:
        self.device, self.on_event = device, on_event

    def write(self, text: str) -> int:
        from tweetbench.progress import parse_event

        for line in text.splitlines():
            event = parse_event(line)
            if event is not None:
                self.on_event(self.device, event)
        return len(text)

    def flush(self) -> None:
        return None


class _Terminated(Exception):
    """The launcher sent SIGTERM (usually because another rank failed)."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    def handle(signum: int, frame: Any) -> None:
        raise _Terminated("the launcher terminated this rank (SIGTERM), usually because another rank failed: "
                          "see the launcher's output for that rank's error")

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def plan_for(options: RunOptions, spec: DeviceSpec) -> ParallelPlan:
    """The parallel plan of a device count in a run's options."""
    assert options.strategy is not None and spec.count is not None
    return ParallelPlan(options.strategy, spec.count, options.num_nodes, options.timeout_s)  # type: ignore[arg-type]


def run_launched(options: RunOptions, launched: LaunchEnv, on_event: EventFn) -> RunOutcome | None:
    """This rank's part of a data-parallel run that torchrun or srun started. Rank 0 writes the run
    (the data-parallel result, then the single-device baseline and the reports); the others return None.

    The baseline runs after the data-parallel part, in a worker process without the launcher's
    variables, so that the other ranks need not wait for it inside a collective.
    """
    from tweetbench import suite
    from tweetbench.records import dumps
    from tweetbench.report.files import write_atomic
    from tweetbench.report.writer import write_run_reports
    from tweetbench.runner import run_device
    from tweetbench.scaling import given_baseline

    if len(options.devices) != 1 or options.devices[0].count is None:
        raise UsageError(f"under {launched.launcher}, give exactly one device count, e.g. --devices gpu:8")
    spec = options.devices[0]
    plan = plan_for(options, spec)
    launched.check(plan)
    job = DeviceJob(spec.name, options.workload, options.preset, options.data, options.scenario,  # type: ignore[arg-type]
                    options.profile, parallel=plan)
    command = list(options.command)
    if launched.rank != 0:
        quiet = ProgressEmitter(open(os.devnull, "w"))  # noqa: SIM115
        run_device(job, run_id="rank", run_dir=Path(tempfile.gettempdir()), command=command, progress=quiet)
        return None
    run_id, run_dir = suite.new_run_dir(options.out)
    started = time.time()
    baseline_spec = DeviceSpec(spec.kind)
    listed = dataclasses.replace(options, devices=(baseline_spec, spec) if options.scaling_baseline is None
                                 else (spec,))
    write_atomic(run_dir / "run.json", json.dumps(suite.run_meta(listed, run_id, started, "running"), indent=2))
    on_event(spec.name, {"event": "device-start"})
    try:
        with _sigterm_raises():
            outcome = run_device(job, run_id=run_id, run_dir=run_dir, command=command,
                                 progress=ProgressEmitter(_EventStream(spec.name, on_event)))  # type: ignore[arg-type]
        assert outcome is not None  # rank 0 always has the result
        result = outcome
    except Exception as exc:  # this rank's failure (or another rank's, seen as a broken connection)
        tail = traceback.format_exc().splitlines()[-suite.ERROR_TAIL_LINES:]
        result = suite.failed_result(options, spec, run_id, f"rank 0 failed: {type(exc).__name__}: {exc}", tail)
    on_event(spec.name, {"event": "device-end", "status": result.status})
    results = []
    if result.status in ("failed", "invalid"):
        # No baseline then: the launcher is likely tearing the ranks down, and there is no efficiency.
        baseline, source = None, "not run: the data-parallel part did not succeed"
    elif options.scaling_baseline is not None:
        baseline, source = given_baseline(options.scaling_baseline, spec.kind)
    else:
        on_event(baseline_spec.name, {"event": "device-start"})
        baseline = suite.run_device_process(options, baseline_spec, run_id, run_dir, on_event,
                                            env=single_process_env())
        on_event(baseline_spec.name, {"event": "device-end", "status": baseline.status if baseline else "?"})
        source = "this run"
        if baseline is not None:
            results.append(baseline)
    result = finish_result(result, plan, options.workload.batch_size, baseline, source)
    write_atomic(suite.result_path(run_dir, spec), dumps(result))
    results.append(result)
    listed = dataclasses.replace(options, devices=(baseline_spec, spec) if len(results) == 2 else (spec,))
    meta = suite.run_meta(listed, run_id, started, "complete")
    write_atomic(run_dir / "run.json", json.dumps(meta, indent=2))
    write_run_reports(options.out, run_dir, meta, results)
    return suite.RunOutcome(run_id, run_dir, results, complete=True)


# --------------------------------------------------------------------------- the command line's checks


def run_devices(devices: str, *, strategy: str | None, num_nodes: int, scaling_baseline: Path | None,
                launched: LaunchEnv | None) -> tuple[DeviceSpec, ...]:
    """The devices ``tweetbench run`` runs, in order, from ``--devices`` and the data-parallel options.

    Without ``--strategy``: the plain device list. With it: device counts, each preceded by the
    single-device run of its kind that scaling efficiency is measured against (unless
    ``--scaling-baseline`` names an earlier one, or a launcher started the ranks: rank 0 then runs
    the baseline after the data-parallel part). Refuses, as usage errors, what cannot run.
    """
    from tweetbench.devices import BACKENDS, parse_device_list

    if strategy is None:
        if num_nodes != 1 or scaling_baseline is not None:
            raise UsageError("--num-nodes and --scaling-baseline go with --strategy (e.g. --strategy ddp)")
        if launched is not None and launched.world_size > 1:
            raise UsageError(f"{launched.launcher} started {launched.world_size} ranks: add --strategy ddp and give "
                             "--devices as a count per node, e.g. --devices gpu:8")
        return tuple(parse_device_list(devices))
    specs = parse_device_list(devices, counted=True)
    for spec in specs:
        problem = BACKENDS[spec.kind].strategy_problem(strategy, spec.count or 1)
        if problem:
            raise UsageError(problem)
        if strategy not in BACKENDS[spec.kind].strategies:
            runs = ", ".join(kind for kind, backend in BACKENDS.items() if strategy in backend.strategies)
            raise UsageError(f"--strategy {strategy} does not run on {spec.kind}: it runs on {runs}")
    if strategy in SPAWNED_STRATEGIES and (num_nodes > 1 or launched is not None):
        raise UsageError(f"--strategy {strategy} runs on one host, its ranks started by Lightning's launcher: drop "
                         "--num-nodes and torchrun/srun (a multi-host TPU slice is not supported yet)")
    if num_nodes > 1 and launched is None:
        raise UsageError("--num-nodes > 1 needs a launcher on every node: start tweetbench with torchrun or srun "
                         "(see the README's data-parallel section)")
    if scaling_baseline is not None:
        from tweetbench.scaling import load_baseline

        for kind in {spec.kind for spec in specs}:
            load_baseline(scaling_baseline, kind)  # fail now, not after the run
    if launched is not None or scaling_baseline is not None:
        return tuple(specs)
    ordered: list[DeviceSpec] = []
    for spec in specs:
        if DeviceSpec(spec.kind) not in ordered:
            ordered.append(DeviceSpec(spec.kind))
        ordered.append(spec)
    return tuple(ordered)
