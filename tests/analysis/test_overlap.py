"""Throughput with host/device overlap against per-step synchronised throughput."""

from __future__ import annotations

import pytest

from tweetbench.analysis.overlap import overlap_section, samples_per_s


def test_samples_per_s_over_the_window() -> None:
    assert samples_per_s(32, 10, 2.0) == 160.0
    assert samples_per_s(32, 0, 2.0) is None and samples_per_s(32, 10, 0.0) is None


def test_the_gain_is_overlapped_over_synced_throughput() -> None:
    # 10 overlapped steps in 1.0 s (10 steps/s) against synced steps of 0.125 s (8 steps/s): gain 1.25.
    section = overlap_section(16, 10, 1.0, [0.125] * 4)
    assert section["samples_per_s_synced"] == pytest.approx(128.0)
    assert section["overlap_gain"] == pytest.approx(1.25)
    assert section["step_ms_synced"]["p50"] == pytest.approx(125.0)
    assert section["raw_synced_step_s"] == [0.125] * 4


def test_no_synced_steps_no_gain() -> None:
    section = overlap_section(16, 10, 1.0, [])
    assert section["overlap_gain"] is None and section["step_ms_synced"] is None


def _interference(window: bool, after: bool) -> dict:
    def section(hit: bool) -> dict:
        return {"interfered": hit, "reasons": ["other processes used 0.90 of the 2 cores (threshold 0.25)"] if hit
                else []}
    return {**section(window), "after_window": section(after)}


@pytest.mark.parametrize("window, after", [(True, False), (False, True), (True, True)])
def test_a_gain_measured_under_interference_is_flagged_and_kept_apart(window: bool, after: bool) -> None:
    # The CPU under a neighbour read 12.8x, which a device that runs each op before returning cannot reach.
    section = overlap_section(16, 10, 1.0, [1.28] * 4, _interference(window, after))
    assert section["overlap_gain"] is None
    assert section["overlap_gain_unreliable"] == pytest.approx(12.8)
    assert section["overlap_gain_flag"].startswith("not a result: interference in")


def test_a_quiet_pair_of_windows_gives_its_gain() -> None:
    section = overlap_section(16, 10, 1.0, [0.125] * 4, _interference(False, False))
    assert section["overlap_gain"] == pytest.approx(1.25) and section["overlap_gain_flag"] is None


def test_a_synchronous_device_gets_no_overlap_gain_even_on_a_quiet_machine():
    # A quiet CPU read 1.225x: the machine slowed between the two windows. With synchronous=False the same
    # figures would be given as a gain; the check fails that case, not only an interfered one.
    quiet = {"interfered": False, "reasons": []}
    given = overlap_section(16, 100, 0.4, [0.0049] * 50, quiet)
    assert given["overlap_gain"] == pytest.approx(16 * 100 / 0.4 / (16 / 0.0049))
    flagged = overlap_section(16, 100, 0.4, [0.0049] * 50, quiet, synchronous=True)
    assert flagged["overlap_gain"] is None
    assert flagged["overlap_gain_unreliable"] == pytest.approx(given["overlap_gain"])
    assert flagged["overlap_gain_flag"].startswith("not applicable: this device runs each op before it returns")
