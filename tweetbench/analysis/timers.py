"""Timer agreement: the device's own clock against the host's, on the steps synchronised one by one.

On a step that is synchronised at its end, the host clock (``perf_counter`` read after the sync) and
the device clock (a CUDA event recorded at the end of the step's work) span the same work, so their
per-step intervals must agree. A device clock that runs fast or slow, marks the wrong stream, or is
read before its work completes shows up here. Steps inside an overlapped window are not compared:
there the host's marks show only dispatch. Where the device's clock is the host's (the CPU, XLA),
the two sides would be one clock: the check does not apply, and the record says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tweetbench.analysis.summary import step_summary

# The clocks agree when the total and the median step differ by at most this share: an event's
# timestamp and a perf_counter read after a sync are microseconds apart, a few percent of a short step.
TIMER_TOLERANCE = 0.05
# ... or by at most this many seconds per step at the median, for steps so short (tens of microseconds)
# that the sync's own return time is a large share of them.
TIMER_FLOOR_S = 20e-6
METHOD = ("per-step intervals of the device's clock against the host's perf_counter read after a sync, "
          "on the steps synchronised one by one (the synced steps after an overlapped window, or every "
          "step of a synchronised window)")


def not_applicable(source: str) -> dict[str, Any]:
    """The record where the device's clock is the host clock: no comparison, and why."""
    return {"status": "not applicable", "source": source,
            "reason": f"the device's clock is the host clock ({source}): both sides would be one clock"}


def timer_agreement(source: str | None, host_s: Sequence[float], device_s: Sequence[float] | None,
                    host_source: str = "host perf_counter") -> dict[str, Any]:
    """Whether the device clock's per-step intervals agree with the host's on the same synchronised steps."""
    if not source or device_s is None:
        return not_applicable(host_source)
    if not host_s or len(device_s) != len(host_s):
        return {"status": "not compared", "source": source,
                "reason": f"{len(device_s)} device intervals against {len(host_s)} host steps"}
    total = sum(device_s) / sum(host_s) - 1.0
    host, device = step_summary(host_s), step_summary(device_s)
    p50 = device.p50 / host.p50 - 1.0
    agrees = abs(total) <= TIMER_TOLERANCE and (abs(p50) <= TIMER_TOLERANCE
                                               or abs(device.p50 - host.p50) <= TIMER_FLOOR_S * 1e3)
    return {
        "status": "agrees" if agrees else "disagrees",
        "source": source,
        "steps": len(host_s),
        "step_ms": device.to_dict(),
        # device / host - 1: positive when the device clock saw longer steps than the host's.
        "total_rel_diff": total,
        "p50_rel_diff": p50,
        "tolerance": TIMER_TOLERANCE,
        "floor_s": TIMER_FLOOR_S,
        "method": METHOD,
        "raw_step_s": list(device_s),
        "raw_host_step_s": list(host_s),
    }


def disagreement(agreement: dict[str, Any], what: str) -> str:
    """A warning's text where the clocks disagree, else ''."""
    if agreement.get("status") != "disagrees":
        return ""
    return (f"the device clock ({agreement['source']}) disagrees with the host clock on the {agreement['steps']} "
            f"synchronised steps of {what}: {agreement['total_rel_diff'] * 100:+.1f}% in total, "
            f"{agreement['p50_rel_diff'] * 100:+.1f}% at the median (tolerance {agreement['tolerance']:.0%})")
