"""The convergence scenario: train to accuracy with early stopping, TensorBoard logs, curves and PNGs."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tweetbench.config import DataSource, DeviceJob, get_preset, get_workload
from tweetbench.devices import create_backend, parse_device
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.records import new_result, read_result
from tweetbench.report import plots
from tweetbench.scenarios.convergence import PATIENCE, run_convergence
from tweetbench.workload.dataset import load_data
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier


def converge(tmp_path, workload, max_epochs, nan_at_step=None):
    preset = dataclasses.replace(get_preset("smoke"), max_epochs=max_epochs)
    job = DeviceJob("cpu", workload, preset, scenario="convergence")
    data = load_data(workload, DataSource())
    module = TweetClassifier(build_model(workload, data.num_classes), workload.lr, log_metrics=True)
    module.inject_nan_at_step = nan_at_step
    with open(os.devnull, "w") as sink:
        outcome = run_convergence(job, create_backend(parse_device("cpu")), module, data, tmp_path,
                                  ProgressEmitter(sink))
    return outcome, outcome.metrics["convergence"]


def as_record(outcome, workload):
    """The outcome as the runner would store it: it must validate against the schema."""
    return new_result(run_id="20260101-000000-abcdef", device={"name": "cpu", "kind": "cpu", "label": "CPU",
                                                               "hardware": "x"},
                      status=outcome.status, reason=outcome.reason,
                      workload={"name": workload.name, "config": workload.to_dict(),
                                "fingerprint": "sha256:" + "0" * 64},
                      environment={}, command=["tweetbench"], metrics=outcome.metrics, scenario="convergence")


def test_reaches_the_tiny_target_and_records_time_epochs_and_test_accuracy(tmp_path):
    wl = get_workload("tiny")
    outcome, conv = converge(tmp_path, wl, max_epochs=3)
    assert outcome.status == "ok"
    assert conv["target_reached"] and conv["time_to_accuracy_s"] > 0
    first = next(i for i, acc in enumerate(conv["curves"]["val_acc"]) if acc >= wl.target_accuracy)
    assert conv["epochs_to_accuracy"] == first + 1
    assert conv["time_to_accuracy_s"] == pytest.approx(conv["curves"]["wall_s"][first])
    assert conv["time_to_accuracy_train_s"] < conv["time_to_accuracy_s"]
    assert conv["epochs_run"] == len(conv["curves"]["epoch"]) == 3
    losses = conv["curves"]["val_loss"]
    assert conv["best_epoch"] == losses.index(min(losses)) + 1
    assert 0 < conv["test_acc"] <= 1 and conv["test_samples"] == (200 // 16) * 16
    assert list((tmp_path / conv["tensorboard_dir"]).glob("events.out.tfevents.*"))
    as_record(outcome, wl)


def test_a_target_not_reached_is_recorded_with_the_best_accuracy_seen(tmp_path):
    wl = dataclasses.replace(get_workload("tiny"), target_accuracy=0.99, batch_size=64)  # 25 steps an epoch
    outcome, conv = converge(tmp_path, wl, max_epochs=1)
    assert not conv["target_reached"] and conv["time_to_accuracy_s"] is None
    assert conv["best_val_acc"] == max(conv["curves"]["val_acc"])
    assert outcome.status == "ok" and outcome.reason.startswith("target not reached")
    record = as_record(outcome, wl).to_dict()
    broken = json.loads(json.dumps(record))
    broken["metrics"]["convergence"]["target_reached"] = True  # reached, yet no time: the schema refuses it
    with pytest.raises(Exception, match="schema"):
        as_record(type("O", (), {"status": "ok", "reason": "", "metrics": broken["metrics"]})(), wl)


def test_early_stopping_ends_training_after_the_patience(tmp_path):
    # A zero learning rate: the validation loss never improves after epoch 1, so early stopping must end it.
    wl = dataclasses.replace(get_workload("tiny"), lr=0.0, batch_size=64)  # 25 steps an epoch
    _, conv = converge(tmp_path, wl, max_epochs=20)
    assert conv["stopped_early"] and conv["epochs_run"] == 1 + PATIENCE
    assert conv["best_epoch"] == 1 and conv["early_stopping"]["patience"] == PATIENCE


def test_a_nan_loss_makes_the_result_invalid_and_stops_training(tmp_path):
    wl = dataclasses.replace(get_workload("tiny"), batch_size=64)
    outcome, conv = converge(tmp_path, wl, max_epochs=5, nan_at_step=3)
    assert outcome.status == "invalid" and "NaN" in outcome.reason
    assert conv["epochs_run"] == 1 and conv["curves"]["train_loss"] == [None]
    as_record(outcome, wl)  # an invalid result still validates (and holds no NaN, which JSON cannot)


@pytest.mark.slow
def test_cli_convergence_run_writes_pngs_tensorboard_and_a_valid_record(tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "tweetbench", "run", "--scenario", "convergence", "--workload", "tiny",
           "--preset", "smoke", "--max-epochs", "2", "--devices", "cpu", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    record = read_result(run_dir / "cpu.json").to_dict()
    conv = record["metrics"]["convergence"]
    assert record["scenario"] == "convergence" and record["status"] == "ok"
    for name in (*plots.CURVE_PNGS.values(), plots.TTA_PNG):
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run_dir / conv["tensorboard_dir"]).glob("events.out.tfevents.*"))
    report = (run_dir / "report.md").read_text()
    assert "![validation accuracy](plots/val_acc.png)" in report
    expected = f"{conv['time_to_accuracy_s']:,.1f} s" if conv["target_reached"] else "target not reached"
    assert expected in report
    assert "time to accuracy" in (out / "summary.md").read_text()
    regen = subprocess.run([sys.executable, "-m", "tweetbench", "report", "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert regen.returncode == 0, regen.stderr
    assert (run_dir / "report.md").read_text() == report
