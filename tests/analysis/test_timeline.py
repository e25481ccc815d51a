"""The device timeline, on synthetic Kineto traces with known busy and idle intervals (no GPU needed)."""

import pytest

from tweetbench.analysis.timeline import device_timeline


def test_busy_copy_and_idle_split_with_the_wait_for_the_host(gpu_trace):
    t = device_timeline(gpu_trace())
    assert t["steps"] == 2
    assert t["kernel_share"] == pytest.approx(0.30)
    assert t["copy_share"] == pytest.approx(0.10)
    assert t["idle_share"] == pytest.approx(0.60)
    assert t["host_wait_share"] == pytest.approx(0.40)
    assert t["other_idle_share"] == pytest.approx(0.20)
    assert t["kernel_share"] + t["copy_share"] + t["idle_share"] == pytest.approx(1.0)
    assert t["kernels_per_step"] == 2
    assert t["median_kernel_us"] == pytest.approx(15)
    assert t["bound"] == "host"
    assert t["verdict"] == ("host-bound: the device is idle 60% of each step, 40% waiting for the host "
                            "(no kernel queued); busy 40%")


def test_a_busy_device_is_device_bound(gpu_trace):
    t = device_timeline(gpu_trace(busy=True))
    assert t["kernel_share"] + t["copy_share"] == pytest.approx(0.65)
    assert t["host_wait_share"] == pytest.approx(0.15)
    assert t["other_idle_share"] == pytest.approx(0.20)
    assert t["bound"] == "device"
    assert t["verdict"] == "device-bound: the device is busy 65% of each step (kernels 55%, copies 10%)"


def test_no_device_activity_no_timeline(training_trace):
    assert device_timeline(training_trace()) is None
