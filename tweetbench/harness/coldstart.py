"""The cold-start marks of a worker process: wall-clock times of the moments a serving process passes through.

``mark`` is called where each moment happens (the runner: imports done, data loaded, model built; the serve
scenario: trained, first compile, first response, steady state); ``timeline`` turns them into timed phases from
the process's start (the kernel's creation time, read through psutil).
"""

from __future__ import annotations

import time
from typing import Any

import psutil

_MARKS: dict[str, float] = {}


def mark(name: str, at: float | None = None) -> None:
    """Note that this process reached ``name`` now (or at ``at``, a ``time.time()``); the first mark stays."""
    _MARKS.setdefault(name, time.time() if at is None else at)


def timeline(order: tuple[str, ...], *, start: float | None = None) -> dict[str, Any]:
    """Each mark in ``order`` that was reached, with its time from the start and the phase that ended there.

    ``start`` is the process's creation time unless given (a server process's own start, say).
    """
    began = psutil.Process().create_time() if start is None else start
    phases, previous = [], began
    for name in order:
        if name not in _MARKS:
            continue
        at = _MARKS[name]
        phases.append({"phase": name, "at_s": at - began, "took_s": max(0.0, at - previous)})
        previous = at
    return {"phases": phases, "total_s": previous - began}


def clear() -> None:
    _MARKS.clear()
