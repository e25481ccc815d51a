"""The matmul peak probe, run for real on the host CPU with a short configuration."""

from __future__ import annotations

import time

import torch

from tweetbench.harness.peak import MIN_SIZE, PeakConfig, measure_peak, probe_dtype

SHORT = PeakConfig(target_matmul_s=0.005, block_s=0.02, repeats=3, max_size=1024)


def test_cpu_fp32_and_bf16_peaks_are_measured_and_synced_around_each_block():
    syncs = []
    started = time.perf_counter()
    peaks = measure_peak(torch.device("cpu"), lambda: syncs.append(1), config=SHORT)
    assert time.perf_counter() - started < 30  # a probe, not a benchmark of its own
    assert set(peaks) == {"fp32", "bf16"}
    for peak in peaks.values():
        assert peak.reason == "" and peak.flops_per_s is not None
        assert len(peak.block_flops_per_s) == SHORT.repeats
        assert peak.flops_per_s == max(peak.block_flops_per_s) > 0
        assert MIN_SIZE <= peak.size <= SHORT.max_size and peak.chain >= 1
    # Two synchronisations around every timed call: size steps, warm-ups and blocks.
    assert len(syncs) % 2 == 0 and len(syncs) >= 2 * 2 * (SHORT.repeats + 2)
    assert "warm-up apart" in peaks["fp32"].to_dict()["method"]


def test_a_dtype_ruled_out_is_reported_with_its_reason():
    peaks = measure_peak(torch.device("cpu"), lambda: None,
                         supports=lambda dtype: (dtype == "fp32", "no bf16 here"), config=SHORT)
    assert peaks["fp32"].flops_per_s is not None
    assert peaks["bf16"].to_dict() == {"dtype": "bf16", "flops_per_s": None, "reason": "no bf16 here"}


def test_a_device_error_becomes_a_reason_not_a_crash():
    def lost() -> None:
        raise RuntimeError("device lost\nmore detail")

    peak = probe_dtype(torch.device("cpu"), "fp32", lost, SHORT)
    assert peak.flops_per_s is None and peak.reason == "fp32 matmul failed on cpu: device lost"
