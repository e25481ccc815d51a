"""What ``tweetbench run`` was asked to do (its timeouts, data-parallel plan and run.json) and its exit code."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from tweetbench.config import WORKLOADS, ParallelPlan, get_preset
from tweetbench.devices import DeviceSpec
from tweetbench.launch.options import RunOptions, RunOutcome
from tweetbench.records import DeviceResult
from tweetbench.records.run import new_run_dir, read_meta, write_meta

CPU, XLA_CPU = DeviceSpec("cpu"), DeviceSpec("xla-cpu")


SMOKE = RunOptions(devices=(CPU, XLA_CPU), workload=WORKLOADS["tiny"], preset=get_preset("smoke"), out=Path("results"),
                   command=("tweetbench", "run", "--preset", "smoke"))


def _options(**changes: object) -> RunOptions:
    return dataclasses.replace(SMOKE, **changes)  # type: ignore[arg-type]


def test_the_preset_sets_the_timeout_and_a_device_that_compiles_gets_longer() -> None:
    smoke = _options()
    assert smoke.device_timeout_s == smoke.timeout_for(CPU) == 600.0
    assert smoke.timeout_for(XLA_CPU) > smoke.timeout_for(CPU)
    assert _options(preset=get_preset("standard")).timeout_for(CPU) > smoke.timeout_for(CPU)
    # Training to accuracy may run many epochs: its table is longer than the benchmark's.
    assert _options(scenario="convergence").timeout_for(CPU) > smoke.timeout_for(CPU)


def test_a_given_timeout_holds_for_every_device_and_scenario() -> None:
    for scenario in ("benchmark", "convergence"):
        options = _options(timeout_s=42.0, scenario=scenario)
        assert options.device_timeout_s == options.timeout_for(CPU) == options.timeout_for(XLA_CPU) == 42.0


def test_only_a_device_count_with_a_strategy_has_a_data_parallel_plan() -> None:
    counted = DeviceSpec("cpu", count=2)
    assert _options().parallel_plan(counted) is None
    assert _options(strategy="ddp").parallel_plan(CPU) is None
    plan = _options(strategy="ddp", num_nodes=3, timeout_s=50.0).parallel_plan(counted)
    assert plan == ParallelPlan("ddp", 2, 3, 50.0) and plan.world_size == 6


@pytest.mark.parametrize("status", ["running", "complete", "incomplete"])
def test_the_run_json_names_what_was_asked_and_reads_back(status: str, tmp_path: Path) -> None:
    options = _options(repeats=3, scenario="convergence")
    run_id, run_dir = new_run_dir(tmp_path)
    write_meta(run_dir, options.meta(run_id, 1000.0, status))  # type: ignore[arg-type]
    meta = read_meta(run_dir)
    assert (meta["run_id"], meta["status"], meta["started_at"]) == (run_id, status, 1000.0)
    assert meta["devices"] == ["cpu", "xla-cpu"]
    assert (meta["workload"], meta["preset"], meta["scenario"], meta["repeats"]) == (
        WORKLOADS["tiny"].name, "smoke", "convergence", 3)
    assert meta["command"] == list(options.command)
    assert (meta["finished_at"] is None) == (status == "running")


@pytest.mark.parametrize(("statuses", "complete", "code"), [
    (["ok", "unavailable"], True, 0),
    (["ok", "failed"], True, 1),
    (["invalid"], True, 1),
    (["ok"], False, 130),
    (["failed"], False, 130),
    ([], True, 0),
])
def test_the_exit_code_says_whether_every_device_ran_and_the_run_finished(
        statuses: list[str], complete: bool, code: int, make_record: Callable[..., dict], tmp_path: Path) -> None:
    results = [DeviceResult(make_record("gpu", status="unavailable") if status == "unavailable"
                            else make_record(status=status)) for status in statuses]
    assert RunOutcome("r", tmp_path, results, complete).exit_code == code
