"""The device's timeline in a Kineto trace: is the device busy, or waiting for the host?

Pure: the parsed JSON of a trace in, a plain dict out (None when the trace holds no device
activity, as on a CPU). The same figures as Holistic Trace Analysis's temporal and idle-time
breakdowns, computed here so that they come out with the core install:

- each analysed step (see ``analysis.trace.Trace``) is split into the time in which the device
  runs a kernel, the time in which it only copies memory (``gpu_memcpy``/``gpu_memset``), and
  the time it is idle; the three add up to the step;
- idle time is split into *waiting for the host*, the part of each gap before the host had
  queued the next kernel or copy (its launch call, found through ``args.correlation``, started
  after the gap began: nothing was queued), and the rest (queued work not yet started: launch
  latency, or a launch the trace cannot link);
- kernels per step and the median kernel duration.

The verdict is *device-bound* when the device is busy at least half of each step, else
*host-bound*: a faster device would then shorten only the part it is busy.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Mapping
from typing import Any

from tweetbench.analysis.trace import Span, Trace, Window, clipped, union

DEVICE_BOUND_AT = 0.5


def _gaps(busy: list[Window], window: Window) -> list[Window]:
    """The intervals of ``window`` that ``busy`` (merged, sorted) leaves free."""
    gaps, cursor = [], window[0]
    for start, end in busy:
        if end <= window[0] or start >= window[1]:
            continue
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < window[1]:
        gaps.append((cursor, window[1]))
    return gaps


def _host_wait(trace: Trace, activity: list[Span], starts: list[float], gap: Window) -> float:
    """How much of ``gap`` passed before the host queued the device's next piece of work."""
    i = bisect.bisect_left(starts, gap[1])
    if i == len(activity):
        return gap[1] - gap[0]  # nothing more was ever queued
    queued = trace.launched_at(activity[i])
    if queued is None:
        return 0.0
    return min(max(queued - gap[0], 0.0), gap[1] - gap[0])


def device_timeline(trace_json: Mapping[str, Any]) -> dict[str, Any] | None:
    """The device's share of each step running kernels, copying and idle, and the verdict; None without
    device activity or profiled steps."""
    trace = Trace(trace_json)
    activity = sorted([*trace.kernels, *trace.copies], key=lambda s: s.start)
    if not trace.windows or not activity:
        return None
    windows = trace.windows
    total = sum(end - start for start, end in windows)
    kernel_union = union([(s.start, s.end) for s in trace.kernels])
    busy = union([(s.start, s.end) for s in activity])
    kernel_us = sum(clipped(a, b, windows) for a, b in kernel_union)
    busy_us = sum(clipped(a, b, windows) for a, b in busy)
    starts = [s.start for s in activity]
    gaps = [gap for window in windows for gap in _gaps(busy, window)]
    host_wait_us = sum(_host_wait(trace, activity, starts, gap) for gap in gaps)
    idle_us = max(total - busy_us, 0.0)
    in_steps = [s for s in trace.kernels if any(a <= s.start < b for a, b in windows)]
    steps = trace.step_count
    result = {
        "steps": steps,
        "mean_step_ms": total / steps / 1e3,
        "kernel_share": kernel_us / total,
        "copy_share": (busy_us - kernel_us) / total,
        "idle_share": idle_us / total,
        "host_wait_share": min(host_wait_us, idle_us) / total,
        "other_idle_share": max(idle_us - host_wait_us, 0.0) / total,
        "kernels_per_step": len(in_steps) / steps,
        "median_kernel_us": statistics.median(s.dur for s in in_steps) if in_steps else None,
    }
    result.update(_verdict(result))
    return result


def _verdict(t: Mapping[str, Any]) -> dict[str, str]:
    busy = t["kernel_share"] + t["copy_share"]
    if busy >= DEVICE_BOUND_AT:
        return {"bound": "device", "verdict": f"device-bound: the device is busy {busy * 100:.0f}% of each step "
                                              f"(kernels {t['kernel_share'] * 100:.0f}%, copies "
                                              f"{t['copy_share'] * 100:.0f}%)"}
    return {"bound": "host", "verdict": f"host-bound: the device is idle {t['idle_share'] * 100:.0f}% of each step, "
                                        f"{t['host_wait_share'] * 100:.0f}% waiting for the host (no kernel queued); "
                                        f"busy {busy * 100:.0f}%"}
