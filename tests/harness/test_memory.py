"""The peak resident memory of this process, sampled in the background while a block runs."""

from __future__ import annotations

import time

import psutil

from tweetbench.harness.memory import PeakRSS

MIB = 2**20
SIZE = 96 * MIB


def test_the_peak_catches_memory_freed_before_the_block_ends() -> None:
    """A buffer that lives only mid-block: the final sample cannot see it, only the background sampler can."""
    with PeakRSS(interval=0.002) as peak:
        before = psutil.Process().memory_info().rss
        buffer = b"\x01" * SIZE  # written, so resident
        time.sleep(0.1)
        del buffer
        after = psutil.Process().memory_info().rss
    assert after < before + SIZE / 2  # the buffer went back to the system before the block ended
    assert peak.peak >= before + 0.9 * SIZE
    assert not peak._thread.is_alive()


def test_the_kernels_high_water_mark_is_at_least_the_sampled_peak() -> None:
    with PeakRSS() as peak:
        pass
    assert peak.peak > 0
    assert PeakRSS.kernel_peak_bytes() >= peak.peak
