import json
from pathlib import Path

import pytest

from tweetbench.errors import ResultsError
from tweetbench.records import (
    SCHEMA_VERSION,
    DeviceResult,
    parse_result,
    read_result,
    validate,
)

DATA = Path(__file__).parent.parent / "data"


def stored(name="cpu_result.json"):
    return json.loads((DATA / name).read_text())


def test_stored_results_validate():
    for name in ("cpu_result.json", "gpu_unavailable.json"):
        validate(stored(name))
        assert read_result(DATA / name).status in ("ok", "unavailable")


def test_records_are_immutable_copies():
    data = stored()
    record = DeviceResult(data)
    data["status"] = "failed"
    assert record.status == "ok"
    copy = record.to_dict()
    copy["metrics"]["training"]["samples_per_s"] = -1
    assert record.to_dict()["metrics"]["training"]["samples_per_s"] > 0


def test_ok_result_without_training_metrics_is_refused():
    data = stored()
    del data["metrics"]["training"]
    with pytest.raises(ResultsError, match="metrics"):
        DeviceResult(data)


def test_unknown_status_is_refused():
    data = stored()
    data["status"] = "great"
    with pytest.raises(ResultsError, match="status"):
        validate(data)


def test_newer_schema_is_refused_with_advice():
    data = stored()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ResultsError, match="upgrade tweetbench"):
        parse_result(json.dumps(data), "x.json")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ('{"tool": "tweetbench", "schema', "not valid JSON"),
        ('{"name": "something else"}', "not a tweetbench result"),
        ("[1, 2, 3]", "not a tweetbench result"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
        ('{"a": NaN}', "not valid JSON"),
    ],
)
def test_bad_files_get_one_line_errors(text, match):
    with pytest.raises(ResultsError, match=match) as info:
        parse_result(text, "x.json")
    assert "\n" not in info.value.message


def test_truncated_stored_file_is_refused(tmp_path):
    text = (DATA / "cpu_result.json").read_text()
    path = tmp_path / "cpu.json"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ResultsError, match="corrupt or truncated"):
        read_result(path)
