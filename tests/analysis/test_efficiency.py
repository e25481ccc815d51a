"""Derived efficiency figures: energy per 1,000 samples, FLOP/s against the peak."""

from __future__ import annotations

import pytest

from tweetbench.analysis.efficiency import (
    efficiency_metrics,
    energy_metrics,
)
from tweetbench.config import WORKLOADS
from tweetbench.devices.base import energy_window
from tweetbench.workload.flops import workload_flops


def test_energy_per_1000_samples_and_the_reason_when_there_is_none():
    measured = {"energy": energy_window("nvml-energy-counter", "gpu", joules=12.0, window_s=2.0)}
    missing = {"energy": energy_window("rapl", "cpu", joules=None, window_s=2.0, reason="not measurable here: x")}
    out = energy_metrics({"training": (measured, 4_000), "inference_batch1": (missing, 100),
                          "inference_offline": ({"compiles": 0}, 256)})
    assert out["training"]["j_per_1k"] == pytest.approx(3.0) and out["training"]["mean_power_w"] == 6.0
    assert out["inference_batch1"]["j_per_1k"] is None and out["inference_batch1"]["reason"] == "not measurable here: x"
    assert "inference_offline" not in out  # that device reports no energy at all


def test_achieved_flops_and_percent_of_the_reference_peak():
    flops = workload_flops(WORKLOADS["v1"], 10)
    peaks = {"fp32": {"flops_per_s": 1e12}, "bf16": {"flops_per_s": None, "reason": "no bf16"}}
    out = efficiency_metrics(flops, peaks, "32-true", train_samples_per_s=1000.0, offline_samples_per_s=2000.0,
                             latency_p50_s=0.001)
    assert out["reference_peak"] == "fp32"
    assert out["training"]["achieved_flops_per_s"] == flops.training_per_sample * 1000.0
    assert out["training"]["pct_of_peak"] == pytest.approx(100 * flops.training_per_sample * 1000.0 / 1e12)
    assert out["inference_batch1"]["achieved_flops_per_s"] == pytest.approx(flops.forward_per_sample * 1000.0)
    bf16 = efficiency_metrics(flops, peaks, "bf16-mixed", train_samples_per_s=1000.0, offline_samples_per_s=None,
                              latency_p50_s=None)
    assert bf16["training"]["pct_of_peak"] is None and bf16["reason"] == "no bf16"
    assert bf16["inference_offline"] == {"achieved_flops_per_s": None, "pct_of_peak": None}
