"""Throughput with and without the overlap of host and device, and the gain between them.

The headline window is synchronised only at its two ends, so the host queues step N+1 while the
device runs step N: its throughput is the window's samples over its synchronised wall time. The
steps that follow are synchronised one by one, which removes that overlap. Their ratio is the
overlap gain: 1.0 on a device that runs each op before returning (the CPU), above 1.0 where the
host and the device work at the same time (CUDA, XLA).

The gain compares two windows run one after the other. Where interference hit either of them (see
``harness/interference.py``), the ratio says how the load changed between them, not what overlap
gained: a CPU read 12.8x under a CPU-bound neighbour, where it cannot exceed 1.0. Such a gain is
flagged and kept apart (``overlap_gain_unreliable``), never given as ``overlap_gain``. On a device that runs each
op before it returns (the CPU) no gain applies at all: a quiet CPU read 1.225x because the machine slowed between
the two windows, so there the ratio is always kept apart as not applicable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.analysis.summary import step_summary

METHOD = ("samples over the synchronised wall time of a window synchronised only at its ends (overlapped), "
          "against the same over steps each synchronised (synced)")


def samples_per_s(batch_size: int, steps: int, seconds: float) -> float | None:
    """``batch_size x steps / seconds``, or None over no time."""
    return batch_size * steps / seconds if seconds > 0 and steps > 0 else None


def interference_flag(interference: Mapping[str, Any] | None) -> str:
    """Why the overlap gain is no result ('' when neither window was interfered)."""
    if not interference:
        return ""
    hit = [(what, section) for what, section in (("the overlapped window", interference),
                                                 ("the synced steps", interference.get("after_window")))
           if section and section.get("interfered")]
    if not hit:
        return ""
    return ("not a result: interference in " + " and ".join(what for what, _ in hit) + " ("
            + "; ".join(section["reasons"][0] for _, section in hit if section.get("reasons"))
            + "), so the ratio shows how the load changed between the two windows")


SYNCHRONOUS_FLAG = ("not applicable: this device runs each op before it returns, so there is no host/device "
                    "overlap to gain; the two windows' ratio shows only how the machine's speed changed between them")


def overlap_section(batch_size: int, steps: int, window_seconds: float, synced_seconds: Sequence[float],
                    interference: Mapping[str, Any] | None = None, *, synchronous: bool = False) -> dict[str, Any]:
    """The synced figures beside the overlapped window's, and their ratio (the overlap gain), unless the device is
    synchronous (``DeviceBackend.synchronous``: no gain applies) or a window was interfered."""
    overlapped = samples_per_s(batch_size, steps, window_seconds)
    synced = samples_per_s(batch_size, len(synced_seconds), sum(synced_seconds))
    gain = overlapped / synced if overlapped and synced else None
    flag = SYNCHRONOUS_FLAG if synchronous else interference_flag(interference)
    return {
        "samples_per_s_synced": synced,
        "step_ms_synced": step_summary(synced_seconds).to_dict() if synced_seconds
        else None,
        "raw_synced_step_s": list(synced_seconds),
        "overlap_gain": None if flag else gain,
        "overlap_gain_unreliable": gain if flag else None,
        "overlap_gain_flag": flag or None,
        "overlap_method": METHOD,
    }
