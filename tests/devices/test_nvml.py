"""NVML sampling: decoding, the background sampler, window energy, and the real GPU where there is one."""

from __future__ import annotations

import time

import pytest
import torch

from tweetbench.devices import DeviceSpec
from tweetbench.devices.cuda import CUDABackend
from tweetbench.devices.nvml import (
    BackgroundSampler,
    NvmlMonitor,
    cuda_version_text,
    decode_throttle_reasons,
    nvml_problem,
    summarize,
    window_energy,
)

_gpu = CUDABackend.probe(DeviceSpec("gpu"))
requires_gpu = pytest.mark.skipif(not _gpu.available, reason=f"needs an NVIDIA GPU: {_gpu.reason}")


def test_throttle_reasons_are_decoded_to_names():
    assert decode_throttle_reasons(0) == []
    assert decode_throttle_reasons(0x1) == ["gpu_idle"]
    assert decode_throttle_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_throttle_reasons(0x8 | 0x10000) == ["hw_slowdown", "unknown_0x10000"]


def test_cuda_version_text():
    assert cuda_version_text(12040) == "12.4" and cuda_version_text(11080) == "11.8"


def test_the_sampler_reads_at_start_stop_and_in_between():
    calls = []

    def read():
        calls.append(time.perf_counter())
        return {"t": calls[-1], "power_w": 100.0 + len(calls), "gpu_util_pct": None}

    sampler = BackgroundSampler(read, interval_s=0.01)
    sampler.start()
    time.sleep(0.1)
    samples = sampler.stop()
    assert len(samples) >= 3 and samples[0]["t"] == calls[0] and samples[-1]["t"] == calls[-1]
    count = len(calls)
    time.sleep(0.03)
    assert len(calls) == count  # the thread is gone
    summary = summarize(samples)
    assert "gpu_util_pct" not in summary  # never supported: absent, not zero
    assert summary["power_w"]["min"] == 101.0 and summary["power_w"]["count"] == len(samples)


def test_window_energy_from_the_counter_its_absence_and_the_power_fallback():
    counter = [{"t": 0.0, "energy_mj": 1_000}, {"t": 0.5, "energy_mj": 1_000}, {"t": 1.0, "energy_mj": 151_000}]
    energy = window_energy(counter, 1.0)
    assert energy["joules"] == 150.0 and energy["mean_power_w"] == 150.0 and energy["counter_updates"] == 1
    assert energy["source"] == "nvml-energy-counter"

    still = window_energy([{"t": 0.0, "energy_mj": 5}, {"t": 1.5, "energy_mj": 5}], 1.5)
    assert still["joules"] is None and "did not advance" in still["reason"]

    # Under a second NVML cannot count: the window is marked, whatever the counter did.
    short = window_energy([{"t": 0.0, "energy_mj": 5}, {"t": 0.01, "energy_mj": 900}], 0.01)
    assert short["joules"] is None and short["reason"].startswith("window too short: 10 ms")

    power = window_energy([{"t": 0.0, "power_w": 100.0, "energy_mj": None},
                           {"t": 2.0, "power_w": 200.0, "energy_mj": None}], 2.0)
    assert power["source"] == "nvml-power-integral" and power["joules"] == 300.0

    nothing = window_energy([{"t": 0.0}], 1.5)
    assert nothing["joules"] is None and nothing["reason"]


@pytest.mark.skipif(nvml_problem() == "", reason="NVML works here: the GPU test covers this machine")
def test_without_nvml_the_monitor_reports_why_and_never_raises():
    monitor = NvmlMonitor(0)
    assert not monitor.available and monitor.reason
    monitor.begin()
    window = monitor.end()
    assert window["energy"]["joules"] is None and monitor.reason in window["energy"]["reason"]


@pytest.mark.gpu
@requires_gpu
def test_nvml_sees_a_busy_gpu():
    torch.cuda.set_device(0)
    monitor = NvmlMonitor(0, interval_s=0.02)
    assert monitor.available, monitor.reason
    facts = monitor.device.facts()
    a = torch.randn(4096, 4096, device="cuda")
    monitor.begin()
    deadline = time.perf_counter() + 1.0
    while time.perf_counter() < deadline:
        for _ in range(20):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
    window = monitor.end()
    energy, nvml = window["energy"], window["nvml"]
    assert nvml["samples"] >= 10 and isinstance(nvml["throttle_reasons_end"], list)
    assert nvml["gpu_util_pct"]["max"] > 0 and nvml["sm_clock_mhz"]["max"] > 0
    assert energy["joules"] and energy["joules"] > 0, energy
    if facts.get("power_limit_w"):
        assert 0 < energy["mean_power_w"] <= 1.2 * facts["power_limit_w"]
    assert monitor.peak_used_bytes and monitor.peak_used_bytes > 4096 * 4096 * 4
