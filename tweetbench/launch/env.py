"""The environment of a process that the launch layer starts beside a launcher's ranks.

Under torchrun or srun, rank 0 also starts the single-device scaling reference: a process that must run as
one device alone, so it must not see the variables the launcher set for its ranks, or Lightning would take
it for a rank of the distributed job. (Which launcher started this process: ``harness/launcher.py``.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Variables a launcher sets for its ranks, by name and by prefix.
LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                 "ROLE_RANK", "ROLE_NAME", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK")
LAUNCHER_PREFIXES = ("TORCHELASTIC_", "SLURM_", "PL_")


def single_process_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` without a launcher's variables: for a process that must run as one device alone."""
    env = os.environ if environ is None else environ
    return {key: value for key, value in env.items()
            if key not in LAUNCHER_VARS and not key.startswith(LAUNCHER_PREFIXES)}
