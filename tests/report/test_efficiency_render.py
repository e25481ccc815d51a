"""The efficiency and energy parts of the report, rendered from stored records (nothing runs)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tweetbench.devices.base import energy_window
from tweetbench.report.efficiency import efficiency_table, flops_text
from tweetbench.report.markdown import render_run_report

DATA = Path(__file__).parent.parent / "data"


def _records():
    cpu = json.loads((DATA / "cpu_result.json").read_text())
    gpu = copy.deepcopy(cpu)
    gpu["device"].update(name="gpu", kind="gpu", label="GPU (H100)", hardware="H100",
                         facts={"power_limit_w": 700.0, "compute_capability": "9.0"})
    flops = {"forward_per_sample": 25_000_000, "training_per_sample": 75_000_000, "forward_parts": {},
             "convention": "model FLOPs"}
    gpu["metrics"]["efficiency"] = {
        "flops": flops, "reference_peak": "fp32", "reference_peak_flops_per_s": 5.0e13,
        "peak": {"fp32": {"flops_per_s": 5.0e13}, "bf16": {"flops_per_s": 7.0e14}},
        "training": {"achieved_flops_per_s": 7.5e11, "pct_of_peak": 1.5},
        "inference_batch1": {"achieved_flops_per_s": 2.5e10, "pct_of_peak": 0.05},
        "inference_offline": {"achieved_flops_per_s": 5.0e12, "pct_of_peak": 10.0},
    }
    window = energy_window("nvml-energy-counter", "gpu", joules=300.0, window_s=1.5)
    gpu["metrics"]["energy"] = {"training": {**window, "samples": 10_000, "j_per_1k": 30.0},
                                "inference_batch1": {**window, "samples": 1000, "j_per_1k": 300.0},
                                "inference_offline": {**energy_window("nvml-energy-counter", "gpu", joules=None,
                                                                      window_s=0.02, reason="too short"),
                                                      "samples": 3840, "j_per_1k": None}}
    gpu["metrics"]["device_counters"] = {"nvml": {
        "samples": 30, "gpu_util_pct": {"p50": 41.0}, "sm_clock_mhz": {"p50": 1980.0}, "power_w": {"p50": 200.0},
        "throttle_reasons_start": ["gpu_idle"], "throttle_reasons_end": []}}
    cpu["metrics"]["energy"] = {"training": {**energy_window("rapl", "cpu", joules=None, window_s=1.0,
                                                             reason="not measurable here: no powercap"),
                                             "samples": 320, "j_per_1k": None}}
    return cpu, gpu


def test_the_report_gives_flops_percent_of_peak_energy_and_gpu_sampling():
    cpu, gpu = _records()
    meta = json.loads((DATA / "run_meta.json").read_text())
    text = render_run_report(meta, [cpu, gpu])
    assert "## Efficiency and energy" in text
    assert "750.0 GFLOP/s (1.5%)" in text and "5.00 TFLOP/s (10.0%)" in text
    assert "fp32 50.00 TFLOP/s / bf16 700.00 TFLOP/s" in text
    assert "30.00 J" in text and "200 W" in text
    assert "cpu energy (training): not measurable here: no powercap" in text
    assert "utilisation p50 41%" in text and "limit 700 W" in text and "throttle reasons at start: gpu_idle" in text
    assert "at end: none" in text


def test_devices_without_efficiency_figures_still_render():
    cpu, _ = _records()
    del cpu["metrics"]["energy"]
    table = efficiency_table([cpu])
    assert table.count("\n") == 2 and "| – |" in table
    assert flops_text(None) == "–" and flops_text(2.5e12) == "2.50 TFLOP/s"
