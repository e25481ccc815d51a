"""Schema version 2 renamed the breakdown's float ``step_ms`` to ``parts_step_ms``: an older record still reads,
under the new name; and a record is validated once where it is built and once where it is read."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tweetbench.analysis.compare import load_side
from tweetbench.analysis.trials import aggregate
from tweetbench.records import SCHEMA_VERSION, DeviceResult, dumps, new_result, parse_result, read_result
from tweetbench.records import result as result_module
from tweetbench.records.result import upgrade
from tweetbench.report.markdown import breakdown_table

DATA = Path(__file__).parent.parent / "data"
CURRENT = json.loads((DATA / "cpu_result.json").read_text())


def version_1(data: dict) -> dict:
    """``data`` as schema version 1 wrote it: the breakdown's float under ``step_ms``."""
    old = copy.deepcopy(data)
    old["schema_version"] = 1
    old["breakdown"]["step_ms"] = old["breakdown"].pop("parts_step_ms")
    return old


def test_the_fixture_is_the_current_schema_version():
    assert CURRENT["schema_version"] == SCHEMA_VERSION == 2 and "parts_step_ms" in CURRENT["breakdown"]


def test_an_old_record_reads_with_the_breakdown_float_under_its_new_name(tmp_path: Path):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(version_1(CURRENT)))
    record = read_result(path).to_dict()
    assert record == CURRENT  # the same record, in this version's names
    assert "step_ms" not in record["breakdown"]
    # What reads old files (the report, compare and merge through load_side) sees the new name.
    assert f"| **total** | {CURRENT['breakdown']['parts_step_ms']:.3f} | 100% |" in breakdown_table(record["breakdown"])
    assert load_side(path).records[0]["breakdown"]["parts_step_ms"] == CURRENT["breakdown"]["parts_step_ms"]


def test_the_upgrade_renames_each_rank_breakdown_of_an_old_data_parallel_record():
    old = version_1(CURRENT)
    old["distributed"] = {"ranks": [{"rank": 0, "breakdown": {"step_ms": 2.0}}, {"rank": 1, "breakdown": None}]}
    upgraded = upgrade(old)
    assert upgraded["distributed"]["ranks"][0]["breakdown"] == {"parts_step_ms": 2.0}
    assert upgraded["breakdown"]["parts_step_ms"] == CURRENT["breakdown"]["parts_step_ms"]


def test_the_upgrade_renames_each_traced_loop_and_its_timeline():
    old = version_1(CURRENT)
    old["breakdown"]["operators"] = {"training": {"steps": 3, "step_ms": 4.0, "timeline": {"step_ms": 3.5}},
                                     "predict_b1": {"steps": 3, "step_ms": 1.0, "timeline": None}}
    operators = upgrade(old)["breakdown"]["operators"]
    assert operators["training"] == {"steps": 3, "mean_step_ms": 4.0, "timeline": {"mean_step_ms": 3.5}}
    assert operators["predict_b1"] == {"steps": 3, "mean_step_ms": 1.0, "timeline": None}


def test_the_upgrade_leaves_a_current_record_alone():
    current = copy.deepcopy(CURRENT)
    current["breakdown"]["step_ms"] = 5.0  # not a version-1 record: nothing of it is renamed
    assert upgrade(current) == current and current["breakdown"]["step_ms"] == 5.0


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every schema validation of a result, by where it was made."""
    seen: list[str] = []
    real = result_module.validate

    def counted(data, where="result"):
        seen.append(where)
        real(data, where)

    monkeypatch.setattr(result_module, "validate", counted)
    return seen


def test_a_result_is_validated_once_where_it_is_read(validations: list[str]):
    parse_result(json.dumps(CURRENT), "trials/cpu.trial1.json")
    assert validations == ["trials/cpu.trial1.json"]


def test_a_result_is_validated_once_where_it_is_built(validations: list[str]):
    record = new_result(run_id="r", device=CURRENT["device"], status="ok", reason="", workload=CURRENT["workload"],
                        environment={}, command=[], metrics=CURRENT["metrics"])
    dumps(record)
    assert len(validations) == 1
    aggregate([DeviceResult(CURRENT), DeviceResult(CURRENT)], ["a", "b"], 2)
    assert len(validations) == 4  # the two trials as built here, then their aggregate once
