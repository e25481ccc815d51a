"""A NaN or Inf training loss makes the device's result ``invalid``, with the step where it happened."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tweetbench.config import PRESETS, WORKLOADS, DataSource
from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.harness.train import TrainingRun, run_training
from tweetbench.records import dumps, new_result, read_result
from tweetbench.scenarios.benchmark import training_metrics
from tweetbench.workload.dataset import load_data
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier

SMOKE = PRESETS["smoke"]
TINY = WORKLOADS["tiny"]


class InfFromStep(TweetClassifier):
    """The real module, whose loss turns to +Inf from one (1-based) training step on."""

    inf_from = 4

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        if self._steps_seen >= self.inf_from:
            self.losses[-1] = self.losses[-1] * float("inf")
            loss = loss * float("inf")
        return loss


@pytest.mark.parametrize(("losses", "step"), [([1.0, 2.0], None), ([1.0, math.inf, 0.5], 2),
                                              ([math.nan], 1), ([0.3, 0.2, -math.inf], 3), ([], None)])
def test_first_non_finite_step_counts_from_one(losses: list[float], step: int | None) -> None:
    run = TrainingRun([], [], losses, 16, 0, "", False)
    assert run.first_non_finite_step == step


def test_an_inf_loss_is_found_at_its_step_and_never_written_as_a_number() -> None:
    data = load_data(TINY, DataSource())
    module = InfFromStep(build_model(TINY, data.num_classes), TINY.lr)
    backend = create_backend(DeviceSpec("cpu"))
    run = run_training(module, backend, data.train, batch_size=TINY.batch_size, seed=TINY.seed, preset=SMOKE,
                       precision="32-true")
    assert run.first_non_finite_step == InfFromStep.inf_from
    metrics = training_metrics(run)
    assert metrics["non_finite_loss_step"] == InfFromStep.inf_from
    assert metrics["final_loss"] is None
    assert all(loss is not None for loss in metrics["raw_loss"][: InfFromStep.inf_from - 1])
    assert metrics["raw_loss"][InfFromStep.inf_from - 1] is None
    # JSON has no Inf: the record must still serialise (dumps refuses NaN/Inf outright).
    record = new_result(run_id="r", device={"name": "cpu", "kind": "cpu", "label": "CPU", "hardware": "x"},
                        status="invalid", reason="loss",
                        workload={"name": TINY.name, "config": {}, "fingerprint": None},
                        environment={}, command=[], metrics={"training": metrics})
    assert json.loads(dumps(record))["metrics"]["training"]["non_finite_loss_step"] == InfFromStep.inf_from


@pytest.mark.slow
def test_a_nan_loss_run_is_invalid_with_its_step(tmp_path: Path) -> None:
    """The fault the suite injects (``cpu:nan``: NaN from the first step after the minimum warm-up)."""
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "tweetbench", "run", "--devices", "cpu", "--preset", "smoke",
                           "--workload", "tiny", "--no-profile", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env={**os.environ, "TWEETBENCH_TEST_FAULT": "cpu:nan"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    result = read_result(run_dir / "cpu.json").to_dict()  # strict JSON: a NaN literal would be refused
    step = SMOKE.min_warmup_steps + 1
    assert result["status"] == "invalid"
    assert result["reason"] == f"training loss became NaN/Inf at step {step}"
    training = result["metrics"]["training"]
    assert training["non_finite_loss_step"] == step
    assert training["raw_loss"][step - 1] is None and training["raw_loss"][step - 2] is not None
    summary = (out / "summary.md").read_text()
    # "| invalid (interference: ...) |" where other processes loaded the machine during the run.
    assert "| invalid" in summary and f"NaN/Inf at step {step}" in summary
