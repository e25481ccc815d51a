import json
from pathlib import Path

from tweetbench.report.markdown import render_run_report, render_summary, speedup

DATA = Path(__file__).parent.parent / "data"


def records():
    return [json.loads((DATA / name).read_text()) for name in ("cpu_result.json", "gpu_unavailable.json")]


def meta():
    return json.loads((DATA / "run_meta.json").read_text())


def test_run_report_shows_devices_side_by_side_from_a_stored_record():
    cpu, gpu = records()
    text = render_run_report(meta(), [cpu, gpu])
    train = cpu["metrics"]["training"]
    assert f"{train['samples_per_s']:,.0f}" in text
    assert f"{train['step_ms']['p50']:.2f}" in text
    assert f"{cpu['metrics']['inference']['latency_batch1_ms']['p50']:.3f}" in text
    assert cpu["breakdown"]["verdict"] in text
    assert "| data loading |" in text and "| **total** |" in text
    assert gpu["reason"] in text
    assert "1.00×" in text  # the CPU against itself
    assert "tweets per second" in text  # the plain-words reading


def test_summary_links_the_latest_and_earlier_runs():
    cpu, gpu = records()
    earlier = [{"run_id": "20200101-000000-abcdef", "status": "complete", "devices": ["cpu"],
                "workload": "tweets-bilstm-v1", "preset": "quick"}]
    text = render_summary(meta(), [cpu, gpu], earlier)
    assert f"({meta()['run_id']}/report.md)" in text
    assert "(20200101-000000-abcdef/report.md)" in text
    assert "do not edit by hand" in text


def test_incomplete_run_is_flagged():
    m = dict(meta(), status="incomplete")
    assert "incomplete" in render_run_report(m, records()[:1])
    assert "incomplete" in render_summary(m, records()[:1])


def test_speedup_is_against_the_cpu_of_the_same_run():
    cpu, _ = records()
    faster = json.loads(json.dumps(cpu))
    faster["device"] = dict(faster["device"], kind="gpu", name="gpu", label="GPU (x)")
    faster["metrics"]["training"]["samples_per_s"] *= 3
    assert abs(speedup(faster, cpu) - 3.0) < 1e-9


def test_renderers_are_pure():
    cpu, gpu = records()
    assert render_run_report(meta(), [cpu, gpu]) == render_run_report(meta(), [cpu, gpu])


def _window(others, stalled=0, stalled_s=0.0, interfered=True):
    return {"interfered": interfered, "reasons": ["other processes used 0.90 of the 2 cores (threshold 0.25)"]
            if interfered else [], "cpu_measured": True, "cpu_reason": None, "cores": 2, "others_cores": others,
            "others_cores_uncertainty": 0.01, "steal_cores": 0.0, "stalled_steps": stalled, "stalled_s": stalled_s,
            "window_s": 120.0, "cut_short": None}


def interfered_record():
    cpu, _ = records()
    train = cpu["metrics"]["training"]
    train.update({"samples_per_s": 206.0, "samples_per_s_median_step": 1060.0,
                  "headline_statistic": "window_throughput", "headline_gap_threshold": 0.1,
                  "interference": _window(0.9, 37, 61.0), "overlap_gain": None, "overlap_gain_unreliable": 12.8,
                  "overlap_gain_flag": "not a result: interference in the overlapped window (...)",
                  "timer_agreement": {"status": "not applicable", "reason": "the device's clock is the host clock"}})
    cpu["metrics"]["interference"] = {"policy": "flag", "interfered": True, "interfered_windows": ["training"],
                                      "windows": {"training": _window(0.9, 37, 61.0),
                                                  "batch-1 inference": _window(0.01, interfered=False)}}
    return cpu


def test_an_interfered_window_is_named_in_the_table_the_summary_and_the_device_section():
    text = render_run_report(meta(), [interfered_record()])
    assert "ok (interference: 0.9 cores)" in text
    assert "other processes used 0.90 of the 2 cores during the training window; 37 steps stalled, 61.00 s in all" \
        in text
    assert "Interference (batch-1 inference): Other processes used 0.01 of the 2 cores" in text
    assert "--on-interference remeasure" in text


def test_under_interference_the_headline_says_its_statistic_and_shows_the_median_step_beside_it():
    text = render_run_report(meta(), [interfered_record()])
    assert "Headline statistic: window_throughput (206 samples/s" in text
    assert "implies 1,060 samples/s" in text and "judge the per-trial median step" in text


def test_an_overlap_gain_spoiled_by_interference_is_flagged_not_given():
    text = render_run_report(meta(), [interfered_record()])
    assert "no gain given, not a result" in text and "12.80×" in text
    assert "overlap gain 12.8" not in text


def test_a_quiet_record_names_no_interference():
    cpu, _ = records()
    text = render_run_report(meta(), [cpu])
    assert "interference:" not in text and "Headline statistic" not in text
