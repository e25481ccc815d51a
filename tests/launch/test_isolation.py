"""One process per device: a device that crashes, runs out of memory or hangs costs only its own result.

These run the real command line and real worker processes. The faults are test-only ones the
worker applies to itself (``TWEETBENCH_TEST_FAULT=device:fault``), before it touches the device:

* ``crash``: the worker aborts (SIGABRT), as a segfaulting driver would;
* ``oom``: the worker caps its address space and then allocates past it, a real allocation failure;
* ``hang``: the worker sleeps forever, so only the ``--timeout`` can end it.

The CPU, which runs the whole smoke scenario for real, sits between faulted devices, so the test
shows both that the suite goes on after a failure and that a later failure leaves an earlier
result alone. The faulted devices are ``gpu``, ``xla-cpu`` and ``tpu``: the fault strikes before
the device is probed, so they need no hardware and cost seconds. The hang costs its timeout, so
it gets a run of its own whose ``--timeout`` is three times what the CPU took in the first run,
plus 5 s (at least 15 s): short on an idle CI box, and still long enough for the CPU on a loaded one.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tweetbench import cli
from tweetbench.faults import FAULT_ENV
from tweetbench.records import read_result

MIN_HANG_TIMEOUT_S = 15
SMOKE = ["--preset", "smoke", "--workload", "tiny", "--no-profile"]


def _run(out: Path, devices: str, *extra: str, fault: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, FAULT_ENV: fault}
    return subprocess.run([sys.executable, "-m", "tweetbench", "run", "--devices", devices, "--out", str(out),
                           *SMOKE, *extra], capture_output=True, text=True, env=env, timeout=600)


def _run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _assert_whole(cpu: dict) -> None:
    """The CPU's result is complete: every part of the smoke scenario is there."""
    assert cpu["status"] == "ok", cpu["reason"]
    metrics = cpu["metrics"]
    assert metrics["training"]["measured_steps"] == 8 and len(metrics["training"]["raw_step_s"]) == 8
    assert metrics["inference"]["latency_batch1_ms"]["count"] == 20
    for part in ("overhead", "memory", "efficiency", "energy", "parity"):
        assert metrics[part], part
    assert metrics["efficiency"]["training"]["pct_of_peak"] > 0
    assert cpu["workload"]["fingerprint"].startswith("sha256:")


@pytest.mark.slow
def test_crash_oom_and_hang_cost_only_their_own_results(tmp_path: Path):
    done = _run(tmp_path / "crash", "gpu,cpu,xla-cpu", fault="gpu:crash,xla-cpu:oom")
    assert done.returncode == 1, done.stderr[-2000:]  # a device failed: non-zero, and no traceback
    assert "Traceback" not in done.stderr
    run_dir = _run_dir(tmp_path / "crash")
    results = {name: read_result(run_dir / f"{name}.json").to_dict() for name in ("gpu", "cpu", "xla-cpu")}

    crashed = results["gpu"]
    assert crashed["status"] == "failed" and "SIGABRT" in crashed["reason"]
    assert any("crashing on purpose" in line for line in crashed["error_tail"])
    oom = results["xla-cpu"]
    assert oom["status"] == "failed" and "exited with code 1" in oom["reason"]
    assert "allocate memory" in oom["reason"] or any("allocate memory" in line for line in oom["error_tail"])
    _assert_whole(results["cpu"])  # between the two failures

    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    report = (run_dir / "report.md").read_text()
    assert all(f"`{name}`" in report for name in results) and "crashing on purpose" in report

    # The hang: first in its run, so the CPU after it shows that the suite went on without it.
    # wall_s leaves out the worker's start (imports): the 5 s are for that.
    timeout = max(MIN_HANG_TIMEOUT_S, math.ceil(3 * results["cpu"]["timing"]["wall_s"] + 5))
    done = _run(tmp_path / "hang", "tpu,cpu", "--timeout", str(timeout), fault="tpu:hang")
    assert done.returncode == 1, done.stderr[-2000:]
    run_dir = _run_dir(tmp_path / "hang")
    hung = read_result(run_dir / "tpu.json").to_dict()
    assert hung["status"] == "failed" and f"timed out after {timeout} s" in hung["reason"]
    assert any("hanging on purpose" in line for line in hung["error_tail"])
    _assert_whole(read_result(run_dir / "cpu.json").to_dict())
    assert "timed out after" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_unavailable_is_not_failure_unless_require_all(tmp_path: Path, capsys):
    argv = ["run", "--devices", "tpu", *SMOKE]
    assert cli.main([*argv, "--out", str(tmp_path / "plain")]) == 0
    assert read_result(_run_dir(tmp_path / "plain") / "tpu.json").status == "unavailable"
    assert cli.main([*argv, "--out", str(tmp_path / "strict"), "--require-all"]) == 1
    assert "--require-all" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-5", "soon", "inf"])
def test_a_bad_timeout_is_a_one_line_usage_error(tmp_path: Path, capsys, value):
    assert cli.main(["run", "--devices", "cpu", "--timeout", value, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tweetbench: error:") and "--timeout" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # refused before anything ran
