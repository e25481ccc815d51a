"""Where a device's trials are written: a single trial is the device's result (no ``trials/`` file); with
``--repeats N`` each trial keeps its own file under ``trials/`` beside their aggregate."""

from __future__ import annotations

from pathlib import Path

from tweetbench import cli
from tweetbench.records import read_result

# The TPU is absent here: its worker probes it and writes ``unavailable`` within seconds.
RUN = ["run", "--devices", "tpu", "--preset", "smoke", "--workload", "tiny", "--no-profile"]


def _run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def test_a_single_trial_is_written_once_as_the_device_result(tmp_path: Path):
    assert cli.main([*RUN, "--repeats", "1", "--out", str(tmp_path)]) == 0
    run_dir = _run_dir(tmp_path)
    assert not list(run_dir.glob("trials/*.json"))
    result = read_result(run_dir / "tpu.json").to_dict()
    assert result["status"] == "unavailable" and result["trials"]["per_trial"][0]["file"] == "tpu.json"


def test_repeated_trials_each_keep_their_own_file(tmp_path: Path):
    assert cli.main([*RUN, "--repeats", "2", "--out", str(tmp_path)]) == 0
    run_dir = _run_dir(tmp_path)
    # An unavailable device is not retried: its first trial ends the device.
    assert sorted(p.name for p in run_dir.glob("trials/*.json")) == ["tpu.trial1.json"]
    result = read_result(run_dir / "tpu.json").to_dict()
    assert result["trials"]["per_trial"][0]["file"] == "trials/tpu.trial1.json"
