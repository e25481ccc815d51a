"""Kineto traces (torch.profiler's Chrome trace-event JSON): complete events, their nesting and the steps.

Pure: a trace's parsed JSON in, plain data out. ``operators.py`` groups the host spans into parts
of the model and step; ``timeline.py`` reads the device's kernels and copies.

A trace holds complete events (``"ph": "X"``: ``name``, ``cat``, ``ts`` and ``dur`` in µs, ``pid``,
``tid``, ``args``). Host events on one thread nest by time (an operator inside a module's
annotation, inside a step); device events (kernels, memory copies) run on a device stream and name
the host call that launched them with ``args.correlation``. ``torch.profiler.profile.step()``
marks each profiled step with a ``ProfilerStep#N`` annotation on the thread that runs the loop.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STEP_PREFIX = "ProfilerStep#"
HOST_CATEGORIES = frozenset({"cpu_op", "user_annotation", "python_function", "cuda_runtime", "cuda_driver"})
KERNEL_CATEGORIES = frozenset({"kernel"})
COPY_CATEGORIES = frozenset({"gpu_memcpy", "gpu_memset"})
# Host calls that queue device work: their ``correlation`` names the kernel or copy they launched.
LAUNCH_CATEGORIES = frozenset({"cuda_runtime", "cuda_driver"})

Window = tuple[float, float]


@dataclass(frozen=True)
class Span:
    """One complete event, in µs."""

    name: str
    cat: str
    start: float
    end: float
    thread: tuple[Any, Any]
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dur(self) -> float:
        return self.end - self.start


def complete_events(trace: Mapping[str, Any]) -> list[Span]:
    """Every complete event of the trace, as spans; ``ValueError`` when it is no Chrome trace."""
    events = trace.get("traceEvents") if isinstance(trace, Mapping) else None
    if not isinstance(events, list):
        raise ValueError("not a Chrome trace: it has no traceEvents list")
    spans = []
    for event in events:
        if not isinstance(event, Mapping) or event.get("ph") != "X":
            continue
        ts, dur = event.get("ts"), event.get("dur")
        if not isinstance(ts, int | float) or not isinstance(dur, int | float):
            continue
        args = event.get("args")
        spans.append(Span(str(event.get("name", "")), str(event.get("cat", "")), float(ts), float(ts) + float(dur),
                          (event.get("pid"), event.get("tid")), args if isinstance(args, Mapping) else {}))
    return spans


def clipped(start: float, end: float, windows: Sequence[Window]) -> float:
    """How much of ``[start, end]`` lies inside the windows (which do not overlap)."""
    return sum(max(0.0, min(end, w_end) - max(start, w_start)) for w_start, w_end in windows)


def overlap(start: float, end: float, intervals: Sequence[Window]) -> float:
    """How much of ``[start, end]`` lies inside ``intervals`` (sorted, disjoint, as ``union`` gives them)."""
    total = 0.0
    i = max(bisect.bisect_right(intervals, (start, float("inf"))) - 1, 0)
    while i < len(intervals) and intervals[i][0] < end:
        total += max(0.0, min(end, intervals[i][1]) - max(start, intervals[i][0]))
        i += 1
    return total


def union(intervals: Sequence[Window]) -> list[Window]:
    """The intervals merged where they overlap, sorted."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


class Trace:
    """One trace's spans: host spans nested per thread, device spans, and the profiled steps.

    ``windows`` are the analysed steps: every ``ProfilerStep#N`` but the first, the lead-in. A step
    begins where ``profile.step()`` was called, so work begun before it (an optimizer step whose
    closure holds the step boundary) starts outside the first window: from the second on, every
    annotation around a step's work is whole, and every backward's forward is in the trace.
    """

    def __init__(self, trace: Mapping[str, Any]) -> None:
        spans = complete_events(trace)
        steps = sorted((s for s in spans if s.name.startswith(STEP_PREFIX)), key=lambda s: s.start)
        self.main_thread = steps[0].thread if steps else None
        self.all_windows: list[Window] = [(s.start, s.end) for s in steps]
        self.windows: list[Window] = self.all_windows[1:] if len(self.all_windows) > 1 else self.all_windows
        host = [s for s in spans if s.cat in HOST_CATEGORIES and not s.name.startswith(STEP_PREFIX)]
        host.sort(key=lambda s: (str(s.thread), s.start, -s.dur))
        self.host = host
        self.parent: list[int | None] = [None] * len(host)
        self.children: list[list[int]] = [[] for _ in host]
        self._nest()
        self.kernels = sorted((s for s in spans if s.cat in KERNEL_CATEGORIES), key=lambda s: s.start)
        self.copies = sorted((s for s in spans if s.cat in COPY_CATEGORIES), key=lambda s: s.start)
        self.launches = {s.args["correlation"]: i for i, s in enumerate(host)
                         if s.cat in LAUNCH_CATEGORIES and "correlation" in s.args}

    def _nest(self) -> None:
        stack: list[int] = []
        thread: tuple[Any, Any] | None = None
        for i, span in enumerate(self.host):
            if span.thread != thread:
                stack, thread = [], span.thread
            while stack and self.host[stack[-1]].end <= span.start:
                stack.pop()
            if stack:
                self.parent[i] = stack[-1]
                self.children[stack[-1]].append(i)
            stack.append(i)

    @property
    def step_count(self) -> int:
        return len(self.windows)

    @property
    def window_ms(self) -> list[float]:
        """Each analysed step's wall time, in ms."""
        return [(end - start) / 1e3 for start, end in self.windows]

    def self_segments(self, i: int) -> list[Window]:
        """Span ``i``'s own time: its interval less its children's, inside the analysed windows."""
        span = self.host[i]
        cursor, pieces = span.start, []
        for child in self.children[i]:
            c = self.host[child]
            if c.start > cursor:
                pieces.append((cursor, min(c.start, span.end)))
            cursor = max(cursor, c.end)
        if cursor < span.end:
            pieces.append((cursor, span.end))
        return [(max(a, w0), min(b, w1)) for a, b in pieces for w0, w1 in self.windows if min(b, w1) > max(a, w0)]

    def self_time(self, i: int) -> float:
        """Span ``i``'s own time inside the analysed windows, in µs."""
        return sum(b - a for a, b in self.self_segments(i))

    def uncovered(self, thread: tuple[Any, Any] | None) -> float:
        """Time of the analysed windows in which ``thread`` runs no span (loop code between annotations), µs."""
        tops = [(s.start, s.end) for i, s in enumerate(self.host) if s.thread == thread and self.parent[i] is None]
        covered = sum(clipped(a, b, self.windows) for a, b in union(tops))
        return max(sum(b - a for a, b in self.windows) - covered, 0.0)

    def launcher(self, device_span: Span) -> int | None:
        """Index of the innermost host span around the call that launched ``device_span``, or None."""
        launch = self.launches.get(device_span.args.get("correlation"))
        return None if launch is None else self.parent[launch]

    def launched_at(self, device_span: Span) -> float | None:
        """When the host queued ``device_span`` (its launch call's start), µs; None if the trace does not say."""
        launch = self.launches.get(device_span.args.get("correlation"))
        return None if launch is None else self.host[launch].start


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"))) + 1


def within_budget(trace: Mapping[str, Any], max_bytes: int) -> tuple[dict[str, Any], int]:
    """``trace`` cut so that its compact JSON stays within ``max_bytes``, and how many analysed steps
    (after the lead-in) the cut trace holds whole.

    A trace within the budget is kept whole. A larger one drops what ended before the first
    analysed step (the lead-in's own events), then keeps events in time order up to the end of
    the last step that fits, or, when not even one step fits, up to the budget. Events without a
    time (metadata) are always kept.
    """
    events = [e for e in trace.get("traceEvents") or [] if isinstance(e, Mapping)]
    steps = sorted((float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in events
                   if e.get("ph") == "X" and str(e.get("name", "")).startswith(STEP_PREFIX))
    header = {key: value for key, value in trace.items() if key != "traceEvents"}
    untimed = [e for e in events if not isinstance(e.get("ts"), int | float)]
    timed = sorted((e for e in events if isinstance(e.get("ts"), int | float)), key=lambda e: float(e["ts"]))
    budget = max_bytes - _size(header) - sum(_size(e) for e in untimed)
    if sum(_size(e) for e in timed) <= budget:
        return dict(trace), max(len(steps) - 1, 0)
    analysed = steps[1:] if len(steps) > 1 else steps
    begin = analysed[0][0] if analysed else float("-inf")
    timed = [e for e in timed if float(e["ts"]) + float(e.get("dur") or 0.0) > begin]
    fits, used = 0, 0
    for event in timed:
        used += _size(event)
        if used > budget:
            break
        fits += 1
    limit = float(timed[fits]["ts"]) if fits < len(timed) else float("inf")
    whole = [end for _start, end in analysed if end <= limit]
    cut = whole[-1] if whole else limit
    return {**header, "traceEvents": untimed + [e for e in timed if float(e["ts"]) < cut]}, len(whole)
