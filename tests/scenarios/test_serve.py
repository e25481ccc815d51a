"""The serve scenario end to end on the CPU (tiny workload, smoke durations), and its one-line failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tweetbench import cli
from tweetbench.config import PRESETS, WORKLOADS, DeviceJob
from tweetbench.records.loadgen import DETAIL, SUMMARY
from tweetbench.scenarios.serve import run_serve

pytest.importorskip("mlperf_loadgen")


@pytest.mark.slow
def test_a_tiny_serve_run_measures_every_scenario_through_loadgen_and_keeps_its_logs(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "tweetbench", "run", "--devices", "cpu", "--scenario", "serve",
                           "--preset", "smoke", "--workload", "tiny", "--out", str(out)], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path, env=dict(os.environ))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    record = json.loads((run_dir / "cpu.json").read_text())
    assert record["status"] == "ok" and record["scenario"] == "serve"
    serving = record["metrics"]["serving"]
    assert serving["latency_bound_s"] == 0.05 and "Not MLPerf-compliant" in serving["compliance"]
    assert str(serving["loadgen_version"]).startswith("6.")
    server = serving["servers"]["inprocess"]
    for name in ("single_stream", "offline", "multi_stream"):
        run = server[name]
        assert (run_dir / run["log_dir"] / SUMMARY).exists() and (run_dir / run["log_dir"] / DETAIL).exists()
    assert server["single_stream"]["latency_s"]["p50_s"] > 0 and server["offline"]["samples_per_s"] > 0
    points = server["search"]["points"]
    assert points and all((run_dir / p["log_dir"] / SUMMARY).exists() for p in points)
    assert server["max_qps"] == max(p["target_qps"] for p in points if p["valid"])
    assert server["overload"]["target_qps"] == pytest.approx(2 * server["max_qps"])
    assert server["accuracy"]["matches_model"] and server["accuracy"]["samples"] == server["accuracy"]["logged"]
    assert server["audit"]["checked"] > 0 and server["audit"]["differing"] == 0
    assert [p["phase"] for p in server["cold_start"]["phases"]][-1] == "steady_state"
    assert (run_dir / "plots" / "serving_cpu.png").stat().st_size > 10_000
    report = (run_dir / "report.md").read_text()
    assert "## Serving" in report and "Not MLPerf-compliant" in report and "**VALID**" in report
    assert "max Server QPS" in (out / "summary.md").read_text()


def test_loadgen_missing_makes_the_device_unavailable_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "mlperf_loadgen", None)
    job = DeviceJob("cpu", WORKLOADS["tiny"], PRESETS["smoke"], scenario="serve")
    outcome = run_serve(job, None, None, None, tmp_path, None)  # type: ignore[arg-type]  (nothing else is reached)
    assert outcome.status == "unavailable" and "pip install mlcommons-loadgen" in outcome.reason
    assert "\n" not in outcome.reason


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--scenario", "serve", "--server", "nginx"], "unknown --server nginx"),
    (["--server", "litserve"], "--server and --latency-bound-ms go with --scenario serve"),
    (["--scenario", "serve", "--latency-bound-ms", "0"], "must be a positive number of milliseconds"),
])
def test_bad_serve_options_are_one_line_usage_errors(argv: list[str], fragment: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     assert_one_line_error: Callable[..., None]) -> None:
    code = cli.main(["run", "--devices", "cpu", "--workload", "tiny", "--preset", "smoke", "--out",
                     str(tmp_path), *argv])
    assert_one_line_error(capsys.readouterr().err, code, 2, fragment)
