"""The launcher environment: the ranks that an external launcher (torchrun, SLURM's srun) started, as its
variables say.

Read by every rank (``harness/ranks.py``: which rank am I; ``scenarios/dataparallel.py``: which launcher to
record) and by the command that plans the run (``launch/plan.py``, ``launch/torchrun.py``). It lives at the
harness layer, below both, so that every import points down; ``launch/env.py`` holds what only the launch
layer does with these variables (a child process that must not look like a rank).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tweetbench.config import ParallelPlan
from tweetbench.errors import UsageError


def env_int(environ: Mapping[str, str], name: str, default: int | None = None) -> int:
    """The whole number a launcher set in ``name``; ``default`` where it set none (a usage error without one)."""
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
            return cls("torchrun", env_int(env, "WORLD_SIZE"), env_int(env, "RANK"), env_int(env, "LOCAL_RANK"),
                       env_int(env, "GROUP_RANK", 0))
        if "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
            return cls("slurm", env_int(env, "SLURM_NTASKS"), env_int(env, "SLURM_PROCID", 0),
                       env_int(env, "SLURM_LOCALID", 0), env_int(env, "SLURM_NODEID", 0))
        return None

    def check(self, plan: ParallelPlan) -> None:
        """Refuse, as a usage error, a plan whose world size is not the number of ranks launched."""
        if plan.world_size != self.world_size:
            raise UsageError(
                f"{self.launcher} started {self.world_size} rank(s), but --devices asks for {plan.devices} per node "
                f"x --num-nodes {plan.num_nodes} = {plan.world_size}: make them match (e.g. torchrun "
                "--nproc-per-node N --nnodes M with --devices KIND:N --num-nodes M)")
