"""The Server-against-Offline decomposition: its two factors multiply back to the throughput ratio."""

from __future__ import annotations

import pytest

from tweetbench.analysis.serve_gap import server_gap


def _run(samples_per_s: float, busy_ms: float, mean_batch: float) -> dict:
    return {"samples_per_s": samples_per_s, "batching": {"busy_ms_per_request": busy_ms, "mean_batch": mean_batch}}


def test_the_two_factors_multiply_back_to_the_throughput_ratio() -> None:
    # Offline: 0.25 ms a request, busy 95% of the time -> 3,800/s. Server: 0.3125 ms, busy 80% -> 2,560 QPS.
    offline, server = _run(3800, 0.25, 64), _run(2560, 0.3125, 18)
    gap = server_gap(offline, server)
    assert gap is not None
    assert gap["busy_share"]["server"] == pytest.approx(0.8) and gap["busy_share"]["offline"] == pytest.approx(0.95)
    assert gap["ms_per_request"]["factor"] == pytest.approx(0.8)
    assert gap["ratio"] == pytest.approx(2560 / 3800)
    assert gap["mean_batch"] == {"server": 18, "offline": 64}


def test_without_a_valid_point_or_the_batchers_figures_there_is_no_decomposition() -> None:
    offline = _run(3800, 0.25, 64)
    assert server_gap(offline, None) is None
    assert server_gap(offline, {"samples_per_s": 2000.0}) is None  # LitServe reports no batching of ours
