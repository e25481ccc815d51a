"""``tune.json`` is built by its own builder (``records.tune.new_tune``) with the header, device, workload,
environment and timing sections that a device result has, the timing from the runner's own ``timing_section``."""

import json
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from tweetbench.errors import ResultsError
from tweetbench.launch.runner import timing_section
from tweetbench.records import SCHEMA_VERSION, new_result
from tweetbench.records.tune import new_tune
from tweetbench.scenarios.tune import TUNE_PRESETS

DATA = Path(__file__).parents[1] / "data"
# The parts of a record that say where it came from, alike in a device result and a tune record.
SHARED = ("tool", "schema_version", "tweetbench_version", "run_id", "command", "device", "workload", "environment")


def _device_result() -> dict:
    return json.loads((DATA / "cpu_result.json").read_text())


def _tune(**changes) -> dict:
    result = _device_result()
    fields = {
        "run_id": result["run_id"], "command": result["command"], "device": result["device"],
        "workload": result["workload"], "environment": result["environment"],
        "settings": asdict(TUNE_PRESETS["smoke"]), "memory_cap_fault": None,
        "finders": {"batch_size": {"suggested": 32, "mode": "power", "init_val": 16, "max_trials": 4,
                                   "tried": [16, 32, 64], "limited_by": "batch 64 ran out of memory"},
                    "lr": {"suggested": None, "batch_size": 16, "min_lr": 1e-6, "max_lr": 1.0,
                           "curve": {"lr": [1e-6], "loss": [None]}}},
        "sweep": {"sizes": [16], "budget_samples": 1024, "lr": 1e-3, "points": [
            {"batch_size": 16, "status": "out-of-memory", "reason": "can't allocate memory"}],
            "first_failure": 16, "throughput_peak": None, "accuracy_peak": None},
        "timing": timing_section(time.time() - 2.0, {"sweep": 1.5}),
    }
    return new_tune(**{**fields, **changes})


def test_the_runners_timing_section_is_the_one_both_records_carry():
    started = time.time() - 2.0
    timing = timing_section(started, {"sweep": 1.5})
    assert set(timing) == set(_device_result()["timing"])
    assert timing["wall_s"] == pytest.approx(timing["finished_at"] - started) and timing["wall_s"] >= 2.0
    assert timing["phases_s"] == {"sweep": 1.5} and timing["torch_threads"] == torch.get_num_threads()


def test_a_tune_record_has_the_header_and_sections_of_a_device_result():
    record = _tune()
    result = new_result(run_id=record["run_id"], device=record["device"], status="unavailable", reason="not here",
                        workload=record["workload"], environment=record["environment"],
                        command=record["command"]).to_dict()
    assert {key: record[key] for key in SHARED} == {key: result[key] for key in SHARED}
    assert record["kind"] == "tune" and record["schema_version"] == SCHEMA_VERSION
    assert list(record) == ["tool", "kind", "schema_version", "tweetbench_version", "run_id", "command", "device",
                            "workload", "settings", "memory_cap_fault", "finders", "sweep", "environment", "timing"]


def test_the_tune_builder_validates_what_it_builds():
    with pytest.raises(ResultsError, match="tune schema"):
        _tune(sweep={"sizes": [], "points": []})
