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
