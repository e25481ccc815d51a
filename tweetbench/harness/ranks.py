"""The ranks of a data-parallel run: who each is, its share of the batches, and what it gathers.

A rank comes to exist in one of three ways; tweetbench has no launcher of its own.

* ``tweetbench run --devices cpu:2 --strategy ddp``: the suite starts one worker
  (``python -m tweetbench.launch.worker JOB.json``) with a timeout, in a process group of its own.
  Lightning's DDP launcher re-runs that same command for ranks 1..N-1 (``LOCAL_RANK`` set), as
  children in the same process group, so the suite's timeout kills every rank.
* ``torchrun ... -m tweetbench run ...`` or ``srun ... tweetbench run ...``: the launcher started every
  rank. ``LaunchEnv.detect`` (``harness/launcher.py``) reads its environment (``launch/torchrun.py`` runs
  this rank in-process); Lightning picks up the same environment (``TorchElasticEnvironment``,
  ``SLURMEnvironment``).
* ``tweetbench run --devices tpu:8 --strategy xla``: Lightning's XLA launcher (torch_xla's
  ``xmp.spawn``) starts one rank per TPU core inside each ``fit`` (see ``harness/ddp.py``).

Every rank writes its error and its whereabouts to files the parent reads, to name the rank that failed
or hung (``harness/rank_files.py``).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from tweetbench.config import ParallelPlan
from tweetbench.devices import DeviceSpec
from tweetbench.harness.launcher import LaunchEnv, env_int
from tweetbench.workload.dataset import EncodedSplit, make_loader


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
        local, node = env_int(env, "LOCAL_RANK", 0), env_int(env, "NODE_RANK", 0)
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
