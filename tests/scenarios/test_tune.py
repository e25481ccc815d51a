"""``tweetbench tune``: Lightning's finders, the batch-size sweep, and a batch that does not fit."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tweetbench import faults
from tweetbench.config import DataSource, get_workload
from tweetbench.devices import create_backend, parse_device
from tweetbench.errors import ResultsError, UsageError
from tweetbench.records import tune as records_tune
from tweetbench.report import plots
from tweetbench.scenarios import tune
from tweetbench.workload.dataset import load_data


def test_settings_sweep_powers_of_two_and_refuse_a_bad_sweep():
    assert tune.TUNE_PRESETS["quick"].sizes() == [16, 32, 64, 128, 256, 512, 1024, 2048]
    assert tune.get_tune_settings("smoke", sweep_max=64).sizes() == [16, 32, 64]
    with pytest.raises(UsageError, match="power of two"):
        tune.get_tune_settings("smoke", sweep_max=100)
    with pytest.raises(UsageError, match="unknown preset"):
        tune.get_tune_settings("huge")


def test_a_real_allocator_failure_is_out_of_memory_and_other_errors_are_not():
    with pytest.raises(RuntimeError) as caught:
        torch.empty(tune.IMPOSSIBLE_BYTES, dtype=torch.uint8)
    assert tune.is_out_of_memory(caught.value)
    assert not tune.is_out_of_memory(RuntimeError("shape mismatch"))


def test_memory_cap_fault_is_read_per_device(monkeypatch):
    monkeypatch.setenv(faults.FAULT_ENV, "gpu:crash,cpu:oom-above-64")
    assert faults.memory_cap("cpu") == 64
    assert faults.memory_cap("gpu") is None
    monkeypatch.setenv(faults.FAULT_ENV, "cpu:oom-above-lots")
    with pytest.raises(UsageError):
        faults.memory_cap("cpu")


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """A tiny sweep on the CPU where batches above 32 rows do not fit (a real allocation failure)."""
    wl = get_workload("tiny")
    settings = tune.TuneSettings("test", sweep_max=128, budget_samples=256, warmup_steps=1, lr_steps=20,
                                 scale_steps_per_trial=1)
    work = tmp_path_factory.mktemp("tune-work")
    return tune.TuneContext(create_backend(parse_device("cpu")), wl, load_data(wl, DataSource()), settings, work,
                            memory_cap=32)


def test_sweep_stops_at_the_first_batch_that_does_not_fit_without_crashing(capped):
    sweep = tune.run_sweep(capped)
    status = {p["batch_size"]: p["status"] for p in sweep["points"]}
    assert status == {16: "ok", 32: "ok", 64: "out-of-memory", 128: "not-run"}
    assert sweep["first_failure"] == 64
    oom = sweep["points"][2]
    assert "can't allocate memory" in oom["reason"]
    for point in sweep["points"][:2]:
        assert point["steps"] == 256 // point["batch_size"]
        assert point["samples_per_s"] > 0 and 0 <= point["val_acc"] <= 1
        assert len(point["raw_step_s"]) == point["steps"] - point["warmup_steps"]
    assert sweep["throughput_peak"]["batch_size"] in (16, 32)
    assert sweep["accuracy_peak"]["batch_size"] in (16, 32)


def test_lightning_batch_size_finder_stops_below_the_batch_that_does_not_fit(capped):
    found = tune.find_batch_size(capped)
    assert found["suggested"] == 32
    assert 64 in found["tried"] and "64 ran out of memory" in found["limited_by"]


def test_tune_record_refuses_foreign_and_corrupt_files(tmp_path):
    path = tmp_path / "tune.json"
    path.write_text("{")
    with pytest.raises(ResultsError, match="corrupt"):
        records_tune.read_tune(path)
    path.write_text(json.dumps({"tool": "tweetbench", "kind": "tune", "schema_version": 1}))
    with pytest.raises(ResultsError, match="tune schema"):
        records_tune.read_tune(path)


@pytest.mark.slow
def test_cli_tune_writes_the_record_the_report_and_both_pngs(tmp_path):
    out = tmp_path / "results"
    env = {**os.environ, faults.FAULT_ENV: "cpu:oom-above-64"}
    proc = subprocess.run([sys.executable, "-m", "tweetbench", "tune", "--device", "cpu", "--workload", "tiny",
                           "--preset", "smoke", "--out", str(out)], capture_output=True, text=True, timeout=600,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    record = records_tune.read_tune(run_dir / records_tune.TUNE_FILE)
    assert record["finders"]["batch_size"]["suggested"] == 64
    assert record["finders"]["lr"]["suggested"] is not None
    assert record["sweep"]["first_failure"] == 128
    for name in (plots.LR_PNG, plots.SWEEP_PNG):
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (run_dir / records_tune.TUNE_REPORT).read_text()
    assert f"]({plots.LR_PNG})" in report and f"]({plots.SWEEP_PNG})" in report
    assert "Batch 128 did not fit in memory, so the sweep stopped there" in report
    # 'tweetbench report' takes a tune run too, and renders the same report from tune.json.
    regen = subprocess.run([sys.executable, "-m", "tweetbench", "report", str(run_dir), "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert regen.returncode == 0, regen.stderr
    assert (run_dir / records_tune.TUNE_REPORT).read_text() == report
    # ... and the latest-run report ignores it rather than choke on it.
    latest = subprocess.run([sys.executable, "-m", "tweetbench", "report", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert latest.returncode == 4 and latest.stderr.count("\n") == 1 and "no tweetbench runs" in latest.stderr


def test_cli_tune_refuses_an_absent_device_and_an_unsupported_precision(capsys, tmp_path):
    from tweetbench.cli import main

    assert main(["tune", "--device", "cpu", "--precision", "16-mixed", "--workload", "tiny",
                 "--out", str(tmp_path)]) == 2
    assert "unsupported on this device" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["tune", "--device", "gpu", "--workload", "tiny", "--out", str(tmp_path)]) == 2
        assert "cannot run here" in capsys.readouterr().err
    assert not any(Path(tmp_path).iterdir())  # nothing written for a run that could not start
