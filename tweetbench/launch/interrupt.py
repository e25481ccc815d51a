"""SIGINT/SIGTERM during a run: the first signal stops the run cleanly, a second one exits at once."""

from __future__ import annotations

import signal
import sys
from typing import Any

from tweetbench.launch.process import Worker


class Interrupt:
    """SIGINT/SIGTERM handling: the first signal stops the run cleanly, a second one exits at once."""

    def __init__(self) -> None:
        self.count = 0
        self.worker: Worker | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        print(f"tweetbench: {signal.Signals(signum).name} received: stopping after saving what finished "
              "(press Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
        if self.worker is not None:
            self.worker.kill(signal.SIGKILL)

    def __enter__(self) -> Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
