"""Progress events from a device worker to the parent, as JSON lines on the worker's stdout."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

EVENT_PREFIX = "@tweetbench "


class ProgressEmitter:
    """Emits ``phase`` and ``step`` events; step events are rate-limited to keep the pipe quiet."""

    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.2) -> None:
        self.stream = stream or sys.stdout
        self.min_interval = min_interval
        self._last = 0.0
        self.phase = ""

    def _emit(self, **event: Any) -> None:
        self.stream.write(EVENT_PREFIX + json.dumps(event) + "\n")
        self.stream.flush()

    def start_phase(self, name: str, total: int) -> None:
        self.phase = name
        self._emit(event="phase", name=name, total=total)

    def step(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last >= self.min_interval:
            self._last = now
            self._emit(event="step", name=self.phase, done=done)


def parse_event(line: str) -> dict[str, Any] | None:
    """The event on a worker's output line, or None for any other line."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        event = json.loads(line[len(EVENT_PREFIX):])
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None
