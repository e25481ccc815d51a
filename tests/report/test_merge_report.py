"""The merged summary: summary.md and summary.json rendered from chosen rows, checked against its schema."""

from __future__ import annotations

import pytest

from tweetbench.analysis.merge import Candidate, select
from tweetbench.errors import ResultsError
from tweetbench.records.merge import MERGE_FORMAT_VERSION, validate_merge_summary
from tweetbench.report.merge import chart_rows, render_merge_summary, summary_record


def merged(make_record, **kw):
    found = [make_record(host="laptop", run_id="r1", samples=1000.0),
             make_record("gpu", status="unavailable", run_id="r1", host="laptop"),
             make_record("gpu", host="box", run_id="r2", samples=3000.0),
             make_record(host="box", run_id="r0", samples=500.0)]
    candidates = [Candidate(r, f"{r['run_id']}/{r['device']['name']}.json", "in", r["environment"]["hostname"],
                            "complete") for r in found]
    return select(candidates, reference=None, reference_kind="cpu", **kw)


def test_summary_md_shows_each_row_its_speedup_and_what_was_skipped(make_record):
    text = render_merge_summary(merged(make_record), ["results-laptop", "results-box"])
    assert "| host | device | variant | status |" in text and "speedup vs laptop · cpu" in text
    assert "1.00× (reference)" in text and "| 3.00× |" in text
    assert "no CUDA GPU found" in text  # the unavailable row keeps its reason
    assert "## Skipped results" not in text and "none was skipped" in text
    assert "![Training samples/s](summary-training.png)" in text and "[summary.json](summary.json)" in text


def test_skipped_results_are_listed_with_why(make_record):
    found = [make_record(run_id="r-new", started=2.0), make_record(run_id="r-old", started=1.0)]
    merge = select([Candidate(r, f"{r['run_id']}.json", "in", "vm", "complete") for r in found], reference=None,
                   reference_kind="cpu")
    text = render_merge_summary(merge, ["results"])
    assert "| vm | cpu | tweets-bilstm-tiny | r-old | older than run r-new's |" in text


def test_summary_json_carries_its_format_version_and_every_row(make_record):
    data = summary_record(merged(make_record), ["a", "b"])
    assert (data["tool"], data["kind"], data["format_version"]) == ("tweetbench", "merge", MERGE_FORMAT_VERSION)
    assert data["reference"] == {"host": "laptop", "device": "cpu"}
    assert [(r["host"], r["device"], r["status"], r["speedup"]) for r in data["rows"]] == [
        ("laptop", "cpu", "ok", 1.0), ("laptop", "gpu", "unavailable", None), ("box", "gpu", "ok", 3.0),
        ("box", "cpu", "ok", 0.5)]
    assert data["rows"][1]["training"] is None and data["rows"][0]["breakdown"]["verdict"]


def test_a_summary_of_the_wrong_shape_is_refused(make_record):
    data = summary_record(merged(make_record), ["a"])
    data["rows"][0]["speedup"] = "fast"
    with pytest.raises(ResultsError, match="rows/0/speedup"):
        validate_merge_summary(data)
    with pytest.raises(ResultsError, match="format_version"):
        validate_merge_summary({k: v for k, v in data.items() if k != "format_version"})


def test_marked_rows_when_different_workloads_are_allowed(make_record):
    found = [make_record(host="laptop", run_id="r1"),
             make_record(host="box", run_id="r2", fingerprint="sha256:" + "e" * 64)]
    merge = select([Candidate(r, f"{r['run_id']}.json", "in", r["environment"]["hostname"], "complete")
                    for r in found], reference=None, reference_kind="cpu", allow_different_workloads=True)
    text = render_merge_summary(merge, ["a", "b"])
    assert "**Different workloads**" in text and "`eeeeeeeeeeee` ≠" in text
    assert summary_record(merge, ["a", "b"])["rows"][1]["workload_differs"] is True


def test_chart_rows_name_host_and_device(make_record):
    assert [label for label, _ in chart_rows(merged(make_record))] == ["laptop · cpu", "laptop · gpu", "box · gpu",
                                                                        "box · cpu"]
