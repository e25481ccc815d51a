"""scripts/gpu_summary.py on a serve run: its figures and checks, and a check that fails when served answers differ."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVE = json.loads((ROOT / "tests" / "data" / "serve_cpu_result.json").read_text())


@pytest.fixture(scope="module")
def summary():
    spec = importlib.util.spec_from_file_location("gpu_summary", ROOT / "scripts" / "gpu_summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, record: dict) -> Path:
    run = tmp_path / "20261206-000000-abcdef"
    run.mkdir()
    (run / "cpu.json").write_text(json.dumps(record))
    return run


def test_a_serve_run_gives_its_scenarios_and_passes_its_checks(summary, tmp_path: Path, capsys) -> None:
    assert summary.summarize([_run(tmp_path, SERVE)], None, None, rehearsal=True) == 0
    out = capsys.readouterr().out
    assert "cpu [32-true, closed, serve]: ok" in out and "SingleStream p50" in out and "max Server QPS" in out
    assert "[PASS] cpu [32-true, closed, serve] inprocess served = model" in out
    assert "[PASS] cpu [32-true, closed, serve] inprocess max QPS found, overload INVALID" in out


def test_served_answers_that_differ_fail_the_check(summary, tmp_path: Path, capsys) -> None:
    record = copy.deepcopy(SERVE)
    record["metrics"]["serving"]["servers"]["inprocess"]["accuracy"].update(matches_model=False, differing=3)
    assert summary.summarize([_run(tmp_path, record)], None, None, rehearsal=True) == 1
    assert "[FAIL] cpu [32-true, closed, serve] inprocess served = model" in capsys.readouterr().out
