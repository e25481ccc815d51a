"""Throughput with and without the overlap of host and device, and the gain between them.

The headline window is synchronised only at its two ends, so the host queues step N+1 while the
device runs step N: its throughput is the window's samples over its synchronised wall time. The
steps that follow are synchronised one by one, which removes that overlap. Their ratio is the
overlap gain: 1.0 on a device that runs each op before returning (the CPU), above 1.0 where the
host and the device work at the same time (CUDA, XLA).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tweetbench.analysis.stats import Summary

METHOD = ("samples over the synchronised wall time of a window synchronised only at its ends (overlapped), "
          "against the same over steps each synchronised (synced)")


def samples_per_s(batch_size: int, steps: int, seconds: float) -> float | None:
    """``batch_size x steps / seconds``, or None over no time."""
    return batch_size * steps / seconds if seconds > 0 and steps > 0 else None


def overlap_section(batch_size: int, steps: int, window_seconds: float,
                    synced_seconds: Sequence[float]) -> dict[str, Any]:
    """The synced figures beside the overlapped window's, and their ratio (the overlap gain)."""
    overlapped = samples_per_s(batch_size, steps, window_seconds)
    synced = samples_per_s(batch_size, len(synced_seconds), sum(synced_seconds))
    return {
        "samples_per_s_synced": synced,
        "step_ms_synced": Summary.from_samples([s * 1e3 for s in synced_seconds]).to_dict() if synced_seconds
        else None,
        "raw_synced_step_s": list(synced_seconds),
        "overlap_gain": overlapped / synced if overlapped and synced else None,
        "overlap_method": METHOD,
    }
