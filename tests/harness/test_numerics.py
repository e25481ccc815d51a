"""The LSTM numerics probe (harness/numerics.py): the CPU's own figures, and verdicts that fail a wrong label.
The GPU's 32-true vs 32-tf32 check is in tests/devices/test_cuda.py."""

from __future__ import annotations

import pytest
import torch

from tweetbench.config import WORKLOADS
from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.harness.numerics import IEEE_LEVEL, NumericsConfig, judge, lstm_errors, numerics_probe, summary_lines

SMALL = NumericsConfig(batch=4, seq_len=8, input_size=16, hidden_size=16)


def test_on_the_cpu_32_true_is_ieee_and_tf32_does_not_apply():
    result = numerics_probe(create_backend(DeviceSpec("cpu")), NumericsConfig.from_workload(WORKLOADS["tiny"]))
    ieee = result["precisions"]["32-true"]
    assert ieee["applicable"] and all(e["max_rel"] < IEEE_LEVEL for e in ieee["errors"].values())
    assert not result["precisions"]["32-tf32"]["applicable"]
    assert result["passed"] and result["verdicts"][0].startswith("pass: 32-true at IEEE level")
    assert result["verdicts"][1].startswith("not applicable: 32-tf32")
    assert any("32-true" in line and "forward max" in line for line in summary_lines(result))


def test_a_lower_precision_lstm_is_far_from_the_reference():
    # What the probe would see if 32-true really ran in reduced precision: bf16 weights and inputs.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = lstm_errors(torch.device("cpu"), SMALL)
    exact = lstm_errors(torch.device("cpu"), SMALL)
    assert low["forward"]["max_rel"] > 10 * exact["forward"]["max_rel"]


def _entry(level: float) -> dict:
    return {"applicable": True, "errors": {"forward": {"max_rel": level}, "weight_grad": {"max_rel": level / 2}}}


def test_verdicts_pass_the_right_labels_and_fail_the_wrong_ones():
    assert [v.split(":")[0] for v in judge({"32-true": _entry(1e-6), "32-tf32": _entry(1e-3)})] == ["pass", "pass"]
    wrong_ieee = judge({"32-true": _entry(1e-3), "32-tf32": _entry(1e-3)})
    assert wrong_ieee[0].startswith("fail: 32-true's max relative error 1.0e-03 is above IEEE level")
    assert wrong_ieee[1].startswith("fail: 32-tf32's error is only 1.0x")
    assert judge({"32-true": _entry(1e-6), "32-tf32": _entry(5e-6)})[1].startswith("fail")
    not_run = judge({"32-true": {"applicable": False, "reason": "x"}, "32-tf32": _entry(1e-3)})
    assert not_run == ["not applicable: 32-tf32 has no 32-true figure to compare with"]


@pytest.mark.parametrize("bidirectional", [True, False])
def test_errors_cover_forward_and_both_gradients(bidirectional: bool):
    errors = lstm_errors(torch.device("cpu"), NumericsConfig(2, 4, 8, 8, bidirectional))
    assert set(errors) == {"forward", "input_grad", "weight_grad"}
    assert all(0 <= e["max_rel"] < IEEE_LEVEL and e["mean_abs"] <= e["max_abs"] for e in errors.values())


def test_the_probe_command_prints_and_writes_json_and_refuses_a_missing_device(tmp_path, capsys):
    import json

    from tweetbench import cli
    from tweetbench.devices.cuda import CUDABackend

    out = tmp_path / "numerics.json"
    assert cli.main(["probe", "numerics", "--device", "cpu", "--workload", "tiny", "--json", str(out)]) == 0
    assert "pass: 32-true at IEEE level" in capsys.readouterr().out
    assert json.loads(out.read_text())["check"] == "numerics"
    if not CUDABackend.probe(DeviceSpec("gpu")).available:
        assert cli.main(["probe", "sync", "--device", "gpu"]) == 2
        assert capsys.readouterr().err.startswith("tweetbench: error: gpu cannot run here: ")
    assert cli.main(["probe", "sync", "--device", "cpu", "--workload", "nope"]) == 2
