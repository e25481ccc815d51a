"""The ranks of a data-parallel run: who each is, its share of the batches, and how it reports.

A rank comes to exist in one of three ways; tweetbench has no launcher of its own.

* ``tweetbench run --devices cpu:2 --strategy ddp``: the suite starts one worker
  (``python -m tweetbench.launch.worker JOB.json``) with a timeout, in a process group of its own.
  Lightning's DDP launcher re-runs that same command for ranks 1..N-1 (``LOCAL_RANK`` set), as
  children in the same process group, so the suite's timeout kills every rank.
* ``torchrun ... -m tweetbench run ...`` or ``srun ... tweetbench run ...``: the launcher started every
  rank. ``LaunchEnv.detect`` reads its environment (``launch/torchrun.py`` runs this rank in-process);
  Lightning picks up the same environment (``TorchElasticEnvironment``, ``SLURMEnvironment``).
* ``tweetbench run --devices tpu:8 --strategy xla``: Lightning's XLA launcher (torch_xla's
  ``xmp.spawn``) starts one rank per TPU core inside each ``fit`` (see ``harness/ddp.py``).

Every rank writes its error (``rank_reporting``) and its whereabouts (``RankWatch``) to files the
parent reads (``launch/failures.py``) to name the rank that failed or hung.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from tweetbench.config import ParallelPlan
from tweetbench.devices import DeviceSpec
from tweetbench.errors import ResultsError, UsageError, one_line
from tweetbench.records.files import write_atomic
from tweetbench.workload.dataset import EncodedSplit, make_loader

# Variables a launcher sets for its ranks. The single-device scaling reference that rank 0 starts must not
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
    host: str = field(default_factory=platform.node)

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
        record = {"rank": info.rank, "host": info.host, "at": time.time(), "error": one_line(exc),
                  "traceback": traceback.format_exc().splitlines()[-12:]}
        with contextlib.suppress(OSError, ResultsError):
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
    # Lightning's per-step SIGTERM broadcast (harness/sigterm.py), per measured step; None where not wrapped.
    sigterm_s: list[float] | None = None
    sigterm_called: list[bool] | None = None
