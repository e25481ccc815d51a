"""Cross-device parity: the pass itself (on the CPU) and the verdicts on synthetic records."""

import copy
import json
from pathlib import Path

import pytest
import torch

from tweetbench.analysis.parity import compare_losses, parity_checks, tolerance_for
from tweetbench.config import DataSource, get_workload
from tweetbench.devices import create_backend, parse_device
from tweetbench.harness.parity import run_parity, without_dropout
from tweetbench.workload.dataset import load_data
from tweetbench.workload.model import build_model

DATA = Path(__file__).parent.parent / "data"


def record(name: str, kind: str, losses, *, status: str = "ok", precision: str = "32-true"):
    base = json.loads((DATA / "cpu_result.json").read_text())
    base["device"] = {"name": name, "kind": kind, "label": name.upper(), "hardware": "x"}
    base["status"] = status
    base["workload"]["config"]["precision"] = precision
    if losses is None:
        base["metrics"].pop("parity", None)
    else:
        base["metrics"]["parity"] = {"losses": losses, "steps": len(losses), "dropout": 0.0}
    return base


CPU_LOSSES = [1.4215, 1.4031, 1.4134]


def test_tolerance_is_tight_for_fp32_and_looser_for_reduced_precision():
    assert tolerance_for("32-true") == 1e-3
    assert tolerance_for("bf16-mixed") > tolerance_for("16-mixed") > tolerance_for("32-true")


def test_losses_within_tolerance_match_and_report_the_largest_difference():
    check = compare_losses("xla-cpu", [1.4215, 1.4033, 1.4134], CPU_LOSSES, 1e-3)
    assert check.verdict == "match" and not check.flagged
    assert check.max_abs_diff == pytest.approx(2e-4) and check.worst_step == 2


def test_losses_beyond_tolerance_diverge_with_the_step_named():
    check = compare_losses("gpu", [1.4215, 1.4031, 1.4300], CPU_LOSSES, 1e-3)
    assert check.verdict == "diverged" and check.flagged
    assert check.worst_step == 3 and "step 3" in check.reason


def test_a_non_finite_loss_or_a_different_step_count_diverges():
    assert compare_losses("gpu", [1.4, None, 1.4], CPU_LOSSES, 1e-3).reason == "its loss is NaN/Inf at step 2"
    short = compare_losses("gpu", [1.4215, 1.4031], CPU_LOSSES, 1e-3)
    assert short.verdict == "diverged" and "2 parity steps against the CPU's 3" in short.reason


def test_parity_checks_compare_every_device_with_the_cpu_of_the_run():
    results = [record("cpu", "cpu", CPU_LOSSES), record("xla-cpu", "xla-cpu", [1.42150001, 1.4031, 1.4134]),
               record("gpu", "gpu", [1.5, 1.4, 1.4]), record("tpu", "tpu", None, status="unavailable")]
    verdicts = {c.device: c.verdict for c in parity_checks(results, "cpu")}
    assert verdicts == {"cpu": "reference", "xla-cpu": "match", "gpu": "diverged", "tpu": "no data"}


def test_without_a_cpu_parity_pass_nothing_is_silently_compared():
    checks = parity_checks([record("xla-cpu", "xla-cpu", CPU_LOSSES), record("cpu", "cpu", None, status="failed")], "cpu")
    assert [c.verdict for c in checks] == ["no reference", "no data"]


def test_the_tolerance_follows_the_run_precision():
    results = [record("cpu", "cpu", CPU_LOSSES, precision="bf16-mixed"),
               record("gpu", "gpu", [x + 0.01 for x in CPU_LOSSES], precision="bf16-mixed")]
    assert parity_checks(results, "cpu")[1].verdict == "match"


def test_without_dropout_copies_the_model_and_leaves_the_original_alone():
    model = build_model(get_workload("tiny"), 4)
    clone = without_dropout(model)
    assert clone.dropout.p == 0.0 and model.dropout.p == get_workload("tiny").dropout
    clone.train()
    tokens = torch.randint(1, 100, (3, 16))
    assert torch.equal(clone(tokens), clone(tokens))  # no random mask in training mode
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clone.state_dict().values()))


def test_the_parity_pass_is_deterministic_on_the_cpu_and_leaves_the_model_untouched():
    workload = get_workload("tiny")
    data = load_data(workload, DataSource())
    model = build_model(workload, data.num_classes)
    before = copy.deepcopy(model.state_dict())
    backend = create_backend(parse_device("cpu"))
    runs = [run_parity(model, backend, data.train, batch_size=workload.batch_size, seed=workload.seed,
                       lr=workload.lr, steps=3, precision="32-true") for _ in range(2)]
    assert runs[0]["losses"] == runs[1]["losses"] and len(runs[0]["losses"]) == 3
    assert runs[0]["dropout"] == 0.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # The tolerance tells a real difference apart: other initial weights diverge.
    other = run_parity(build_model(workload.with_seed(1), data.num_classes), backend, data.train,
                       batch_size=workload.batch_size, seed=workload.seed, lr=workload.lr, steps=3,
                       precision="32-true")
    assert compare_losses("other", other["losses"], runs[0]["losses"], tolerance_for("32-true")).flagged
