"""What the machine and the software stack were when a result was measured."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(start: Path | None = None) -> dict[str, Any] | None:
    """The checkout's commit and whether it has uncommitted changes, or None outside a checkout."""
    where = start or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=5, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def _read_first_line(path: str) -> str | None:
    try:
        return Path(path).read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        return None


def cpu_steal_fraction(interval: float = 0.2) -> float | None:
    """Share of CPU time stolen by the hypervisor over a short window (Linux), else None."""
    before = psutil.cpu_times()
    if not hasattr(before, "steal"):
        return None
    time.sleep(interval)
    after = psutil.cpu_times()
    total = sum(after) - sum(before)
    return (after.steal - before.steal) / total if total > 0 else 0.0


def noise_state() -> dict[str, Any]:
    """Machine state that bears on timing noise, read just before measuring."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "load_average": list(load) if load else None,
        "cpu_steal_fraction": cpu_steal_fraction(),
        "cpu_governor": _read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "cpu_percent": psutil.cpu_percent(interval=0.1),
    }


def capture_environment() -> dict[str, Any]:
    """Hardware, OS, versions and threads; imports torch (the worker has it loaded already)."""
    # Here, not at the top: records/ is imported by the renderers and by the launching process, neither of which
    # should pay for loading torch; only a worker, which has it loaded already, captures the environment.
    import torch

    memory = psutil.virtual_memory()
    env: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "ram_bytes": int(memory.total),
        "os": platform.platform(),
        "hostname": platform.node(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "pytorch_lightning": package_version("pytorch-lightning"),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "torch_xla": package_version("torch_xla"),
        "numpy": package_version("numpy"),
        "git": git_commit(),
    }
    return env
