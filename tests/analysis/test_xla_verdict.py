"""XLA's host/device verdict from torch_xla's counters, on synthetic windows."""

import pytest

from tweetbench.analysis.xla import host_device_split, record_splits


def window(execute_s, **more):
    return {"execute_s": execute_s, "execute_count": 10, "transfer_to_device_s": 0.01, "transfer_from_device_s": 0.0,
            "compile_count": 0, "compile_s": 0.0, "fallback_ops": {}, **more}


def test_host_bound_when_the_device_executes_less_than_half_of_each_step():
    s = host_device_split(window(0.2, fallback_ops={"aten::_local_scalar_dense": 10, "aten::nonzero": 2}), 10, 1.0)
    assert s["step_ms"] == pytest.approx(100)
    assert s["execute_ms"] == pytest.approx(20) and s["transfer_ms"] == pytest.approx(1) and s["host_ms"] == 79
    assert s["execute_share"] + s["transfer_share"] + s["host_share"] == pytest.approx(1.0)
    assert s["bound"] == "host"
    assert s["verdict"] == ("host-bound: the host traces and transfers 80% of each step (79.00 ms tracing and Python, "
                            "1.00 ms transfers); the device executes 20.00 ms (20%); 0 compiles in the measured "
                            "steps; CPU fallbacks: `aten::_local_scalar_dense` ×10, `aten::nonzero` ×2")


def test_device_bound_and_compiles_named():
    s = host_device_split(window(0.8, compile_count=1, compile_s=3.0), 10, 1.0)
    assert s["bound"] == "device"
    assert s["verdict"].startswith("device-bound: the device executes 80% of each step (80.00 of 100.00 ms)")
    assert "1 compile in the measured steps" in s["verdict"]


def test_execution_overlapping_the_step_keeps_shares_at_100():
    s = host_device_split(window(1.5), 10, 1.0)
    assert s["host_ms"] == 0 and s["execute_share"] + s["transfer_share"] == pytest.approx(1.0)


def test_no_execute_time_no_verdict_and_records_give_one_per_window():
    assert host_device_split({"compile_count": 0}, 10, 1.0) is None
    assert host_device_split(window(0.2), 0, 1.0) is None
    record = {"metrics": {"device_counters": window(0.2),
                          "training": {"measured_steps": 10, "measured_seconds": 1.0},
                          "inference": {"device_counters": window(0.01), "raw_latency_s": [0.01] * 5,
                                        "offline": {"batch_size": 256, "device_counters": {}, "raw_batch_s": [0.1]}}}}
    assert list(record_splits(record)) == ["training", "batch-1 inference"]
    assert record_splits({"metrics": {"training": {}}}) == {}
