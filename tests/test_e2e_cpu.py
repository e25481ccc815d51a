"""The whole pipeline, as a user runs it: CLI -> one worker per device -> JSON -> Markdown."""

import json
import os
import subprocess
import sys

import pytest

from tweetbench.records import read_result, validate

pytestmark = pytest.mark.slow


def tweetbench(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "tweetbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    proc = tweetbench("run", "--devices", "cpu,gpu,tpu", "--preset", "smoke", "--workload", "tiny",
                      "--out", str(out), cwd=out.parent)
    return proc, out


def test_cpu_is_ok_and_absent_devices_are_unavailable_with_reasons(smoke_run):
    proc, out = smoke_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    cpu = read_result(run_dir / "cpu.json").to_dict()
    assert cpu["status"] == "ok"
    train = cpu["metrics"]["training"]
    assert train["samples_per_s"] > 0 and train["tokens_per_s"] > 0
    assert len(train["raw_step_s"]) == train["measured_steps"] == 8
    assert cpu["metrics"]["inference"]["latency_batch1_ms"]["count"] == 20
    assert cpu["workload"]["fingerprint"].startswith("sha256:")
    assert cpu["environment"]["torch_threads"] >= 1
    assert cpu["command"][:2] == ["tweetbench", "run"]
    assert abs(sum(p["share"] for p in cpu["breakdown"]["parts"].values()) - 1) < 1e-9
    assert len(cpu["breakdown"]["top_functions"]) > 0
    assert list((run_dir / cpu["breakdown"]["prof_dir"]).glob("*.prof"))
    for name in ("gpu", "tpu"):
        result = read_result(run_dir / f"{name}.json").to_dict()
        assert result["status"] == "unavailable" and result["reason"]


def test_the_cpu_record_names_its_math_and_its_overlap_latency_overhead_and_phase_figures(smoke_run):
    _, out = smoke_run
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    cpu = read_result(run_dir / "cpu.json").to_dict()
    assert cpu["device"]["facts"]["math_mode"] == "fp32 IEEE" and cpu["device"]["label"].endswith("[fp32 IEEE]")
    train, inference = cpu["metrics"]["training"], cpu["metrics"]["inference"]
    assert len(train["raw_synced_step_s"]) == 4
    for section in (train, inference["offline"]):
        # A gain is given, or (this machine is shared) flagged as spoiled by interference and kept apart.
        assert (section["overlap_gain"] or section["overlap_gain_unreliable"]) > 0
        assert (section["overlap_gain"] is None) == bool(section["overlap_gain_flag"])
        assert section["interference"]["window_s"] > 0 and "interfered" in section["interference"]
    assert train["headline_statistic"] == "window_throughput" and train["samples_per_s_median_step"] > 0
    # The CPU's device clock is the host's: the timer-agreement check says it does not apply.
    assert train["timer_agreement"]["status"] == "not applicable" and "device_timer" not in train
    assert set(cpu["metrics"]["interference"]["windows"]) == {"training", "batch-1 inference", "batched inference",
                                                              "overhead rounds"}
    # The model's latency is the forward alone, inside the request: never longer than the request.
    assert inference["model_latency_batch1_ms"]["count"] == 20
    assert inference["inference_overhead"]["ratio_p50"] >= 1.0
    overhead = cpu["metrics"]["overhead"]
    assert overhead["verdict"] in ("meets", "misses", "unresolved at this noise") and len(overhead["ci95"]) == 2
    assert overhead["precision"] == "32-true" and overhead["order"][:4] == ["lightning", "bare", "bare", "lightning"]
    assert set(cpu["metrics"]["memory"]["device_phases"]) == {"training", "inference_batch1", "inference_offline"}
    report = (run_dir / "report.md").read_text()
    assert "Model latency (the forward alone" in report and ("overlap gain" in report or "no gain given" in report)
    assert "Interference (training):" in report


def test_every_written_json_validates_against_the_schema(smoke_run):
    _, out = smoke_run
    files = [p for p in out.glob("*/*.json") if p.name != "run.json"]
    assert len(files) == 3
    for path in files:
        validate(json.loads(path.read_text()), str(path))


def test_reports_are_written_and_report_regenerates_them(smoke_run):
    _, out = smoke_run
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    summary = (out / "summary.md").read_text()
    report = (run_dir / "report.md").read_text()
    assert "speedup vs CPU" in summary and "no CUDA GPU" in summary
    assert run_dir.name in summary
    proc = tweetbench("report", "--out", str(out), cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    assert (out / "summary.md").read_text() == summary
    assert (run_dir / "report.md").read_text() == report


def test_the_pytorch_profiler_pass_leaves_traces_operator_groups_and_pictures(smoke_run):
    _, out = smoke_run
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    cpu = read_result(run_dir / "cpu.json").to_dict()
    operators = cpu["breakdown"]["operators"]
    assert set(operators) == {"training", "predict_b1", "predict_b256"}
    for entry in operators.values():
        assert abs(sum(g["share"] for g in entry["groups"].values()) - 1) < 1e-9
        trace = json.loads((run_dir / entry["trace"]).read_text())
        assert all({"ph", "ts", "dur", "name"} <= e.keys() for e in trace["traceEvents"] if e.get("ph") == "X")
    assert set(cpu["breakdown"]["profilers"]) == {"simple", "advanced", "pytorch"}
    report = (run_dir / "report.md").read_text()
    for png in ("plots/profile-breakdown.png", "plots/profile-operators.png", "plots/profile-step-times.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png})" in report
    assert "Operators of the training step" in report and "Perfetto" in report
