"""The device clock: marks taken in the device's own order of work, and the seconds between them.

One abstraction for every interval tweetbench reads off a device: whole steps (beside the
synchronised wall clock) and the gradient all-reduce of a data-parallel step. ``DeviceClock`` itself
reads the host's ``perf_counter``: the default, right where work completes before it returns (the CPU,
gloo); ``CudaEventClock`` (``devices/cuda.py``) records CUDA events on the stream. Each backend hands
out its own through ``DeviceBackend.clock()``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


class DeviceClock:
    """Marks and the seconds between them.

    ``mark()`` may be called from any thread (DDP calls its communication hooks from autograd and
    process-group threads); ``seconds`` and ``intervals`` are read only after the device has been
    synchronised (they may wait for the marks). ``on_device`` says whether the marks are the
    device's own (then they are worth recording beside the wall clock) or the host's.
    """

    source = "host perf_counter"
    on_device = False

    def mark(self) -> Any:
        return time.perf_counter()

    def seconds(self, start: Any, end: Any) -> float:
        return float(end - start)

    def intervals(self, marks: Sequence[Any]) -> list[float]:
        """Seconds between consecutive ``marks``."""
        return [self.seconds(a, b) for a, b in zip(marks, marks[1:])]

