"""LoadGen driving the in-process SUT: a stub device of known capacity, a failing device, LoadGen missing."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tweetbench.analysis.qps_search import SearchConfig, search_max_qps
from tweetbench.harness.batcher import BatcherConfig
from tweetbench.harness.sut import InProcessSUT, LoadGenTest, ServingUnavailable, loadgen, run_loadgen

pytest.importorskip("mlperf_loadgen")

BATCH, SERVICE_S = 8, 0.01  # the stub serves any batch of up to 8 in 10 ms: a capacity of 800 samples/s
CAPACITY = BATCH / SERVICE_S
SAMPLES = 64


def stub_device(indices: Sequence[int], size: int) -> list[int]:
    time.sleep(SERVICE_S)
    return [index % 3 for index in indices]


def _server(tmp_path: Path, qps: float, predictor=stub_device) -> dict:
    test = LoadGenTest("Server", min_duration_s=1.0, min_query_count=500, target_qps=qps, latency_bound_s=0.1)
    config = BatcherConfig(BATCH, 0.0)
    return run_loadgen(test, lambda complete: InProcessSUT(predictor, config, complete), SAMPLES,
                       tmp_path / f"server_{qps:.0f}")


@pytest.mark.slow
def test_the_search_through_loadgen_finds_a_stub_devices_known_capacity(tmp_path: Path) -> None:
    result = search_max_qps(lambda qps: _server(tmp_path, qps), SearchConfig(300, 0.1, max_runs=8))
    assert result.max_valid_qps is not None
    # Poisson arrivals queue before the capacity is reached, so the bound is met a little below it; never above.
    assert 0.6 * CAPACITY <= result.max_valid_qps <= 1.1 * CAPACITY
    assert all((tmp_path / f"server_{p['target_qps']:.0f}" / "mlperf_log_summary.txt").exists()
               for p in result.points)
    over = _server(tmp_path, 2 * result.max_valid_qps)
    assert over["validity"] == "INVALID" and over["latency_s"]["p99_s"] > 0.1


def test_single_stream_answers_every_query_with_the_predicted_class(tmp_path: Path) -> None:
    test = LoadGenTest("SingleStream", min_duration_s=0.2, min_query_count=64, expected_latency_s=0.00001,
                       audit_probability=1.0)
    figures = run_loadgen(test, lambda c: InProcessSUT(lambda idx, size: [i % 3 for i in idx], BatcherConfig(1, 0.0),
                                                       c), SAMPLES, tmp_path)
    assert figures["valid"] and figures["completed"] >= 64
    assert figures["accuracy_log"] and all(cls == index % 3 for index, cls in figures["accuracy_log"].items())


def test_a_failing_device_ends_the_test_and_raises_instead_of_hanging(tmp_path: Path) -> None:
    def broken(indices: Sequence[int], size: int) -> list[int]:
        raise RuntimeError("device lost")

    started = time.time()
    with pytest.raises(RuntimeError, match="device lost"):
        _server(tmp_path, 200, broken)
    assert time.time() - started < 30


def test_loadgen_missing_is_one_unavailable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlperf_loadgen", None)
    with pytest.raises(ServingUnavailable, match="pip install mlcommons-loadgen") as caught:
        loadgen()
    assert "\n" not in str(caught.value)


def test_coalescing_is_a_server_setting_loadgen_logs_and_the_sut_reports_its_batching(tmp_path: Path) -> None:
    lg = loadgen()
    assert LoadGenTest("Server", coalesce=True).settings(lg).server_coalesce_queries is True
    assert LoadGenTest("Server").settings(lg).server_coalesce_queries is False
    test = LoadGenTest("Server", min_duration_s=0.5, min_query_count=100, target_qps=200, latency_bound_s=0.1,
                       coalesce=True)
    figures = run_loadgen(test, lambda complete: InProcessSUT(stub_device, BatcherConfig(BATCH, 0.0), complete),
                          SAMPLES, tmp_path / "coalesced")
    assert figures["settings"]["server_coalesce_queries"] is True
    batching = figures["batching"]
    assert batching["inline"] is False and batching["batches"] >= 1
    # Every batch sleeps SERVICE_S in the stub: the busy time is at least that per batch.
    assert batching["busy_s"] >= SERVICE_S * batching["batches"]
