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
