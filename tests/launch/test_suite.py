"""The suite's writer of a data-parallel result's scaling: ``attach_scaling``, against this run's reference or a
given one, and the ``--scaling-reference`` flag with its old spelling."""

import json
from pathlib import Path

import pytest

from tweetbench import cli
from tweetbench.config import PRESETS, WORKLOADS
from tweetbench.devices import DeviceSpec
from tweetbench.launch.options import RunOptions
from tweetbench.launch.suite import attach_scaling, failed_result, result_path
from tweetbench.records import DeviceResult, read_result

DATA = Path(__file__).parents[1] / "data"
PARALLEL = DeviceSpec("cpu", count=2)


def _options(out: Path, reference: Path | None = None) -> RunOptions:
    return RunOptions(devices=(DeviceSpec("cpu"), PARALLEL), workload=WORKLOADS["tiny"], preset=PRESETS["smoke"],
                      out=out, command=("tweetbench", "run"), strategy="ddp", scaling_reference=reference)


def _single() -> DeviceResult:
    return DeviceResult(json.loads((DATA / "cpu_result.json").read_text()))


def test_attach_scaling_writes_the_result_measured_against_this_runs_reference(tmp_path):
    options = _options(tmp_path)
    failed = failed_result(options, PARALLEL, "run-1", "rank 1 failed", [])
    done = attach_scaling(options, PARALLEL, failed, [_single()], tmp_path)
    scaling = done.to_dict()["distributed"]["scaling"]
    assert scaling["efficiency"] is None and scaling["reason"] == "this run is failed"
    assert scaling["reference"]["device"] == "cpu" and scaling["reference"]["source"] == "this run"
    assert "baseline" not in scaling  # the old name is read, never written
    assert read_result(result_path(tmp_path, PARALLEL)).to_dict() == done.to_dict()


def test_attach_scaling_takes_a_given_reference_and_says_where_it_came_from(tmp_path):
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps(_single().to_dict()))
    options = _options(tmp_path, reference=earlier)
    failed = failed_result(options, PARALLEL, "run-1", "rank 1 failed", [])
    scaling = attach_scaling(options, PARALLEL, failed, [], tmp_path).to_dict()["distributed"]["scaling"]
    assert scaling["reference"]["source"] == str(earlier) and scaling["reference"]["run_id"] == _single().data["run_id"]


def test_the_old_scaling_flag_is_still_read_with_the_same_effect_and_hidden_from_help(tmp_path, capsys):
    parser = cli.build_parser()
    old = parser.parse_args(["run", "--scaling-baseline", "earlier"])
    assert old.scaling_reference == parser.parse_args(["run", "--scaling-reference", "earlier"]).scaling_reference
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    help_text = capsys.readouterr().out
    assert "--scaling-reference" in help_text and "--scaling-baseline" not in help_text
    argv = ["run", "--devices", "cpu:2", "--strategy", "ddp", "--out", str(tmp_path / "out")]
    assert cli.main([*argv, "--scaling-baseline", str(tmp_path / "nope.json")]) == 4
    assert cli.main([*argv, "--scaling-reference", str(tmp_path / "nope.json")]) == 4
    assert cli.main(["run", "--scaling-baseline", str(tmp_path / "nope.json")]) == 2
    old_error, new_error, without_strategy = capsys.readouterr().err.splitlines()
    assert old_error == new_error and "nope.json" in new_error
    assert without_strategy == "tweetbench: error: --num-nodes and --scaling-reference go with --strategy (e.g. " \
                               "--strategy ddp)"
