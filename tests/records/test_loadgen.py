"""LoadGen's real log files (a tiny serve run's, kept under tests/data/loadgen/) read back into figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tweetbench.errors import DataError
from tweetbench.records.loadgen import (
    DETAIL,
    SUMMARY,
    parse_accuracy,
    parse_detail,
    parse_summary,
    read_accuracy,
    read_run,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "loadgen"


def _summary_ns(name: str, label: str) -> float:
    return float(parse_summary((DATA / name / SUMMARY).read_text())[label]) / 1e9


def test_single_stream_percentiles_and_early_stopping_match_loadgens_summary() -> None:
    run = read_run(DATA / "single_stream")
    assert run["scenario"] == "SingleStream" and run["validity"] == "VALID" and run["valid"]
    assert run["latency_s"]["p50_s"] == pytest.approx(_summary_ns("single_stream", "50.00 percentile latency (ns)"))
    assert run["latency_s"]["p99_s"] == pytest.approx(_summary_ns("single_stream", "99.00 percentile latency (ns)"))
    assert run["latency_s"]["p99_9_s"] >= run["latency_s"]["p99_s"] >= run["latency_s"]["p90_s"]
    early = run["early_stopping"]
    assert early["met"] is True and set(early["estimates"]) == {"p90_s", "p99_s"}
    assert early["estimates"]["p90_s"] >= run["latency_s"]["p90_s"]
    assert str(run["loadgen_version"]).startswith("6.0.17")
    assert run["settings"]["scenario"] == "SingleStream" and run["settings"]["min_duration_ms"] > 0


def test_server_points_read_as_valid_and_invalid_with_their_target_and_the_reason() -> None:
    valid, invalid = read_run(DATA / "server_valid"), read_run(DATA / "server_invalid")
    assert valid["valid"] and not invalid["valid"] and invalid["validity"] == "INVALID"
    assert invalid["early_stopping"]["met"] is False and "Run unsuccessful" in invalid["early_stopping"]["text"]
    assert invalid["settings"]["target_qps"] > valid["settings"]["target_qps"] > 0
    assert valid["settings"]["target_latency_ns"] == 50_000_000
    assert valid["settings"]["server_coalesce_queries"] is False  # logged only as requested_
    assert valid["samples_per_s"] == pytest.approx(float(parse_summary(
        (DATA / "server_valid" / SUMMARY).read_text())["Completed samples per second"]))
    assert invalid["latency_s"]["p99_s"] > 0.05 >= valid["latency_s"]["p99_s"]


def test_offline_invalid_names_loadgens_reason_and_a_valid_one_its_samples_per_second() -> None:
    short = read_run(DATA / "offline")
    assert not short["valid"] and short["constraints"]["min_duration_met"] is False and short["invalid_reason"]
    ok = read_run(DATA / "offline_valid")
    assert ok["valid"] and ok["samples_per_s"] == pytest.approx(16332, rel=1e-3)


def test_multi_stream_keeps_per_query_percentiles() -> None:
    run = read_run(DATA / "multi_stream")
    assert run["settings"]["samples_per_query"] == 8
    assert run["query_latency_s"]["p99_s"] >= run["query_latency_s"]["p50_s"] > 0


def test_accuracy_log_gives_every_validation_sample_once() -> None:
    logged = read_accuracy(DATA / "accuracy")
    assert sorted(logged) == list(range(200))
    assert all(len(data) == 8 for data in logged.values())
    assert parse_accuracy("[]\n") == {} and parse_accuracy("") == {}


def test_a_summary_that_disagrees_with_the_detail_log_is_refused(tmp_path: Path) -> None:
    shutil.copytree(DATA / "server_valid", tmp_path / "run")
    summary = tmp_path / "run" / SUMMARY
    summary.write_text(summary.read_text().replace("Result is : VALID", "Result is : INVALID"))
    with pytest.raises(DataError, match="summary says INVALID but its detail log VALID"):
        read_run(tmp_path / "run")


def test_missing_or_unfinished_logs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="LoadGen wrote no log"):
        read_run(tmp_path)
    shutil.copytree(DATA / "single_stream", tmp_path / "run")
    detail = tmp_path / "run" / DETAIL
    detail.write_text("\n".join(line for line in detail.read_text().splitlines() if "result_validity" not in line))
    with pytest.raises(DataError, match="did not finish"):
        read_run(tmp_path / "run")


def test_a_line_cut_short_is_skipped_and_errors_are_collected() -> None:
    text = (':::MLLOG {"key": "a", "value": 1, "metadata": {"is_error": true}}\n:::MLLOG {"key": "b", "val\n'
            ':::MLLOG {"key": "c", "value": "x", "metadata": {"is_warning": true}}\n')
    detail = parse_detail(text)
    assert detail["a"] == 1 and "b" not in detail and detail["_errors"] == ["a: 1"] and detail["_warnings"] == ["c: x"]
