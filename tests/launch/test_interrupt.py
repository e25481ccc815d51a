"""SIGINT and SIGTERM sent to a real ``tweetbench run``: what finished stays, the run says it is incomplete.

The device that is running when the signal comes is made to hang on purpose
(``TWEETBENCH_TEST_FAULT=<device>:hang``), so the signal always lands mid-device.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tweetbench.records import read_result
from tweetbench.records.files import locked
from tweetbench.report.markdown import render_run_report, render_summary
from tweetbench.report.writer import earlier_runs

pytestmark = pytest.mark.slow

SMOKE = ["--preset", "smoke", "--workload", "tiny", "--no-profile"]
STARTUP_S = 180  # generous: CI machines are small and shared


class Run:
    """A real ``python -m tweetbench run`` in the background, its output in files (a full pipe would block it)."""

    def __init__(self, tmp: Path, out: Path, devices: str, fault: str) -> None:
        self.out = out
        self.before = set(out.iterdir()) if out.is_dir() else set()
        self.stdout, self.stderr = tmp / "stdout.txt", tmp / "stderr.txt"
        env = {**os.environ, "TWEETBENCH_TEST_FAULT": fault}
        with self.stdout.open("w") as so, self.stderr.open("w") as se:
            self.proc = subprocess.Popen([sys.executable, "-m", "tweetbench", "run", "--devices", devices, *SMOKE,
                                          "--out", str(out)], stdout=so, stderr=se, env=env, cwd=tmp)

    def wait_until(self, condition: Callable[[], Any], timeout: float = STARTUP_S) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            assert self.proc.poll() is None, f"tweetbench ended early:\n{self.stderr.read_text()[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting; stderr:\n{self.stderr.read_text()[-3000:]}")

    def run_dir(self) -> Path | None:
        dirs = [p for p in self.out.iterdir() if p.is_dir() and p not in self.before] if self.out.is_dir() else []
        return next((d for d in dirs if (d / "run.json").exists()), None)

    def hanging(self, device: str) -> Path | None:
        """The run directory once ``device``'s worker is hanging on purpose."""
        run_dir = self.run_dir()
        if run_dir is None:
            return None
        for log in run_dir.glob(f"logs/{device}*.log"):
            if "hanging on purpose" in log.read_text(errors="replace"):
                return run_dir
        return None

    def finish(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def run_factory(tmp_path: Path):
    runs: list[Run] = []

    def start(devices: str, fault: str, out: Path | None = None) -> Run:
        run = Run(tmp_path, out or tmp_path / "results", devices, fault)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()


def workers_of(run_dir: Path) -> list[psutil.Process]:
    """Worker processes still alive for this run (their job files lie under ``run_dir``)."""
    alive = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "tweetbench.launch.worker" in cmdline and any(str(run_dir) in arg for arg in cmdline):
            alive.append(proc)
    return alive


def assert_reports_are_correct(out: Path, run_dir: Path, devices: list[str]) -> dict[str, Any]:
    """run.json says incomplete; report.md and summary.md are exactly what the renderers make of the files."""
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "incomplete" and meta["finished_at"] is not None
    records = [read_result(run_dir / f"{name}.json").to_dict() for name in devices]
    assert (run_dir / "report.md").read_text() == render_run_report(meta, records)
    summary = (out / "summary.md").read_text()
    assert summary == render_summary(meta, records, earlier_runs(out, meta["run_id"]))
    assert "The latest run is incomplete" in summary
    assert not list(out.rglob("*.tmp")), "a half-written file was left behind"
    return meta


def test_sigint_keeps_the_finished_device_and_marks_the_run_incomplete(run_factory) -> None:
    run = run_factory("cpu,gpu,tpu", "gpu:hang")
    run_dir = run.wait_until(lambda: run.hanging("gpu"))
    cpu_before = (run_dir / "cpu.json").read_bytes()
    run.proc.send_signal(signal.SIGINT)
    code = run.finish()
    stderr = run.stderr.read_text()
    assert code == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "SIGINT received" in stderr and "marked incomplete" in stderr
    assert (run_dir / "cpu.json").read_bytes() == cpu_before
    assert read_result(run_dir / "cpu.json").status == "ok"
    assert not (run_dir / "gpu.json").exists() and not (run_dir / "tpu.json").exists()
    assert_reports_are_correct(run.out, run_dir, ["cpu"])
    assert not workers_of(run_dir), "the hanging worker outlived the run"


def test_sigterm_mid_device_keeps_earlier_runs_in_the_summary(run_factory, tmp_path: Path, make_run_dir) -> None:
    out = tmp_path / "results"
    earlier = make_run_dir(out)
    run = run_factory("cpu,gpu", "cpu:hang", out)
    run_dir = run.wait_until(lambda: run.hanging("cpu"))
    run.proc.send_signal(signal.SIGTERM)
    code = run.finish()
    stderr = run.stderr.read_text()
    assert code == 130 and "Traceback" not in stderr, stderr[-3000:]
    assert "SIGTERM received" in stderr
    assert sorted(p.name for p in run_dir.glob("*.json")) == ["run.json"]
    assert_reports_are_correct(out, run_dir, [])
    assert f"[{earlier.name}]({earlier.name}/report.md) | complete" in (out / "summary.md").read_text()
    assert not workers_of(run_dir)


def test_second_ctrl_c_exits_at_once_even_while_waiting_for_the_results_lock(run_factory, tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = run_factory("cpu", "cpu:hang", out)
    run_dir = run.wait_until(lambda: run.hanging("cpu"))
    with locked(out):  # another run is updating summary.md: this one must wait for it
        run.proc.send_signal(signal.SIGINT)
        run.wait_until(lambda: (run_dir / "report.md").exists(), timeout=60)
        time.sleep(0.5)
        assert run.proc.poll() is None, "the run should be waiting for the lock"
        started = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        code = run.finish(timeout=30)
        elapsed = time.monotonic() - started
    stderr = run.stderr.read_text()
    assert code == 130 and "Traceback" not in stderr, stderr[-3000:]
    assert elapsed < 5, f"the second Ctrl-C took {elapsed:.1f} s to exit"
    assert stderr.rstrip().endswith("tweetbench: interrupted")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "incomplete"
    assert not (out / "summary.md").exists(), "the summary was written without the lock"
    assert not list(out.rglob("*.tmp"))
    assert not workers_of(run_dir)
