"""Peak resident memory of the process, sampled in the background with psutil."""

from __future__ import annotations

import resource
import threading

import psutil


class PeakRSS:
    """Samples this process's RSS every ``interval`` seconds while running; ``peak`` is the largest seen."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tweetbench-rss", daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, self._process.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakRSS:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @staticmethod
    def kernel_peak_bytes() -> int:
        """The kernel's own high-water mark of this process's RSS (ru_maxrss, KiB on Linux)."""
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
