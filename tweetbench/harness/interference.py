"""Interference: how much CPU other processes took while a measured window ran, and the stalls it left.

A window's figure is only as good as the machine was quiet while it ran. The probe reads the
machine's busy time (``psutil.cpu_times()``, Linux's ``/proc/stat``) at the window's two ends, and
this process's own CPU time (``psutil.Process``: itself, the children it has waited for, and its live
children such as data-loader workers). What was busy and not ours, over the window's wall time, is
the number of cores that other processes used. Steal time (a hypervisor running other guests on
this machine's cores) is read apart. From the window's own step times come its stalls: the steps
slower than ``STALL_FACTOR`` times the window's median step.

The launcher process that draws the console is not counted as ours: it uses a few hundredths of a
core, far under ``INTERFERENCE_CORES``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

# A step slower than this multiple of the window's median stalled. A quiet machine's steps spread by
# tens of percent (allocator, GC, page faults); a step five times the median lost at least four steps'
# worth of time, which descheduled threads produce and the workload itself does not.
STALL_FACTOR = 5.0
# Other processes using this many cores on average interfered: a quarter of a core is well above what
# a quiet machine's daemons take (a few hundredths), and on a 2-core machine it takes an eighth of it.
INTERFERENCE_CORES = 0.25
# Steal time at this many cores interfered, for the same reason (the cores were not ours to use).
STEAL_CORES = 0.25
# Stalled steps taking this share of the window's time interfered: the window's throughput is then
# off by at least this much from what its typical step shows.
STALL_SHARE = 0.10
# The kernel counts CPU time in ticks (10 ms at USER_HZ=100), so each reading may be a tick short on every
# core and on our own process: over a short window that rounding is a large share. A window counts as
# interfered by CPU only when others' share less that rounding (``others_cores_uncertainty``) still
# reaches the threshold: over 1 s on 2 cores the rounding is 0.06 core, over 50 ms it is 1.2.
TICK_S = 0.01
# A measured window (and the synced steps after it) may take this many times what its warm-up's median
# step predicts, and never less than WINDOW_CAP_FLOOR_S: oversubscribed cores stall torch's thread
# pool at every parallel region, and a 5 s window then runs for more than ten minutes.
WINDOW_CAP_FACTOR = 10.0
WINDOW_CAP_FLOOR_S = 10.0

BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")
SOURCE = ("machine busy time (psutil.cpu_times: user+nice+system+irq+softirq, all cores) less this process's and "
          "its children's CPU time (psutil.Process), over the window's wall time; steal apart")


@dataclass(frozen=True)
class CpuSample:
    """One reading: wall clock, the machine's busy and steal seconds, and our own CPU seconds."""

    at: float
    busy_s: float
    steal_s: float
    own_s: float


def own_cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds of ``process``, the children it has reaped and its live children (loader workers)."""
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # gone since the listing: its time is in children_* once reaped
        total += child_times.user + child_times.system
    return total


def take_sample(process: psutil.Process | None = None) -> CpuSample:
    """Read the machine's and this process's CPU time now (raises OSError/psutil.Error where it cannot)."""
    machine = psutil.cpu_times()
    busy = sum(getattr(machine, name, 0.0) for name in BUSY_FIELDS)
    return CpuSample(time.perf_counter(), busy, getattr(machine, "steal", 0.0),
                     own_cpu_seconds(process or psutil.Process()))


class CpuProbe:
    """Reads the CPU at a window's start and end; ``result()`` gives what others used, or why not measured."""

    def __init__(self) -> None:
        self.cores = psutil.cpu_count() or 1
        self.first: CpuSample | None = None
        self.last: CpuSample | None = None
        self.problem = ""

    def _read(self) -> CpuSample | None:
        try:
            return take_sample()
        except (OSError, psutil.Error, AttributeError, NotImplementedError) as exc:
            self.problem = f"the CPU times could not be read on {sys.platform} ({type(exc).__name__}: {exc})"
            return None

    def start(self) -> None:
        self.first, self.last = self._read(), None

    def stop(self) -> None:
        if self.first is not None and self.last is None:
            self.last = self._read()

    def result(self) -> dict[str, Any]:
        """The cores others used and the steal, averaged over the window; or measured False with the reason."""
        if self.first is None or self.last is None:
            return {"cpu_measured": False, "cpu_reason": self.problem or "the window never opened"}
        return cpu_use(self.first, self.last, self.cores)


def cpu_use(first: CpuSample, last: CpuSample, cores: int) -> dict[str, Any]:
    """Cores used by others, by us and stolen, averaged over the wall time between two samples."""
    wall = max(last.at - first.at, 1e-9)
    busy, own = last.busy_s - first.busy_s, last.own_s - first.own_s
    return {
        # The ticks' rounding, in cores: two readings, each up to a tick short per core and for our process.
        "others_cores_uncertainty": 2 * (cores + 1) * tick_seconds() / wall,
        "cpu_measured": True,
        "cores": cores,
        # Tick rounding can make our own time exceed the machine's busy time by a tick: never below 0.
        "others_cores": max(busy - own, 0.0) / wall,
        "own_cores": own / wall,
        "steal_cores": max(last.steal_s - first.steal_s, 0.0) / wall,
        "cpu_window_s": wall,
    }


def tick_seconds() -> float:
    """The kernel's CPU-time tick (1/USER_HZ) where the OS says, else TICK_S."""
    try:
        return 1.0 / os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return TICK_S


def stalls(step_seconds: Sequence[float], factor: float = STALL_FACTOR) -> dict[str, Any]:
    """Steps slower than ``factor`` x the median: their count, their total time and the time above the median."""
    if not step_seconds:
        return {"stall_factor": factor, "stalled_steps": 0, "stalled_s": 0.0, "stall_excess_s": 0.0,
                "stall_threshold_ms": None}
    median = statistics.median(step_seconds)
    slow = [s for s in step_seconds if s > factor * median]
    return {"stall_factor": factor, "stalled_steps": len(slow), "stalled_s": float(sum(slow)),
            "stall_excess_s": float(sum(s - median for s in slow)), "stall_threshold_ms": factor * median * 1e3}


def window_cap(warmup_seconds: Sequence[float], steps: int) -> float:
    """The longest a window of ``steps`` may run: the warm-up's median step x steps x WINDOW_CAP_FACTOR, floored."""
    typical = statistics.median(warmup_seconds) if warmup_seconds else 0.0
    return max(WINDOW_CAP_FLOOR_S, typical * steps * WINDOW_CAP_FACTOR)


def judge(cpu: dict[str, Any], stall: dict[str, Any], window_s: float, cut_short: str | None) -> list[str]:
    """Why a window counts as interfered (empty when it does not), each against its stated threshold."""
    reasons = []
    cores = cpu.get("cores", "?")
    if cpu.get("cpu_measured"):
        rounding = cpu.get("others_cores_uncertainty", 0.0)
        if cpu["others_cores"] - rounding >= INTERFERENCE_CORES:
            reasons.append(f"other processes used {cpu['others_cores']:.2f} of the {cores} cores "
                           f"(threshold {INTERFERENCE_CORES}" + (f", ±{rounding:.2f} tick rounding" if rounding >= 0.01
                                                                 else "") + ")")
        if cpu["steal_cores"] - rounding >= STEAL_CORES:
            reasons.append(f"the hypervisor stole {cpu['steal_cores']:.2f} of the {cores} cores "
                           f"(threshold {STEAL_CORES})")
    if window_s > 0 and stall["stalled_s"] / window_s >= STALL_SHARE:
        reasons.append(f"{stall['stalled_steps']} steps over {stall['stall_factor']:g}x the median stalled, "
                       f"{stall['stalled_s']:.2f} s of the {window_s:.2f} s window (threshold {STALL_SHARE:.0%})")
    if cut_short:
        reasons.append(cut_short)
    return reasons


def interference_section(cpu: dict[str, Any], step_seconds: Sequence[float], window_s: float,
                         cut_short: str | None = None) -> dict[str, Any]:
    """The record's ``interference`` of one window: CPU taken by others, steal, stalls and the verdict."""
    stall = stalls(step_seconds)
    reasons = judge(cpu, stall, window_s, cut_short)
    return {
        **cpu, **stall,
        "window_s": window_s,
        "cut_short": cut_short,
        "interfered": bool(reasons),
        "reasons": reasons,
        "source": SOURCE,
        "thresholds": {"others_cores": INTERFERENCE_CORES, "steal_cores": STEAL_CORES, "stall_share": STALL_SHARE,
                       "stall_factor": STALL_FACTOR},
    }


def combine(sections: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several windows (the overhead's rounds) as one: CPU weighted by window time, stalls summed, judged whole."""
    measured = [s for s in sections if s.get("cpu_measured")]
    total = sum(s["window_s"] for s in sections)
    cpu: dict[str, Any] = {"cpu_measured": False, "cpu_reason": next(
        (s.get("cpu_reason") for s in sections if not s.get("cpu_measured")), "no windows")}
    if measured:
        wall = sum(s["cpu_window_s"] for s in measured)
        cpu = {"cpu_measured": True, "cores": measured[0]["cores"], "cpu_window_s": wall,
               **{key: sum(s[key] * s["cpu_window_s"] for s in measured) / max(wall, 1e-9)
                  for key in ("others_cores", "own_cores", "steal_cores")},
               # Each block's rounding is its own and independent of the others': it shrinks as blocks add up.
               "others_cores_uncertainty": sum(s.get("others_cores_uncertainty", 0.0) * s["cpu_window_s"]
                                               for s in measured) / max(wall, 1e-9) / len(measured) ** 0.5}
    stalled = {"stall_factor": STALL_FACTOR, "stalled_steps": sum(s["stalled_steps"] for s in sections),
               "stalled_s": sum(s["stalled_s"] for s in sections),
               "stall_excess_s": sum(s["stall_excess_s"] for s in sections), "stall_threshold_ms": None}
    cut = [s["cut_short"] for s in sections if s.get("cut_short")]
    reasons = judge(cpu, stalled, total, "; ".join(cut) or None)
    # Judged as one window: the figure pools its blocks, and one short block's stall is not the whole's.
    hit = sum(bool(s["interfered"]) for s in sections)
    return {**cpu, **stalled, "window_s": total, "cut_short": "; ".join(cut) or None,
            "interfered": bool(reasons), "reasons": reasons, "windows": len(sections), "interfered_windows": hit,
            "source": SOURCE}
