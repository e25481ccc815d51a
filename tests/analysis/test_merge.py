"""Merge's choice of rows: one per (host, device, variant), the newest complete ok result, the rest skipped with why."""

from __future__ import annotations

import json

import pytest

from tweetbench.analysis.merge import (
    Candidate,
    find_candidates,
    parse_labels,
    parse_reference,
    select,
)
from tweetbench.errors import ResultsError, UsageError


def cand(r, run_status="complete", source=None):
    return Candidate(r, source or f"{r['run_id']}/{r['device']['name']}.json", "in", r["environment"]["hostname"],
                     run_status)


def choose(*candidates, **kw):
    kw.setdefault("reference", None)
    return select(list(candidates), reference_kind="cpu", **kw)


def test_newest_ok_result_wins_and_the_older_one_is_skipped_with_why(make_record):
    old = cand(make_record(run_id="r-old", started=100.0, samples=1000.0))
    new = cand(make_record(run_id="r-new", started=200.0, samples=2000.0))
    merge = choose(old, new)
    assert [row.record["run_id"] for row in merge.rows] == ["r-new"]
    assert [(s.candidate.record["run_id"], s.why) for s in merge.skipped] == [("r-old", "older than run r-new's")]


def test_a_newer_failed_or_incomplete_result_does_not_replace_an_ok_one(make_record):
    ok = cand(make_record(run_id="r-ok", started=100.0))
    failed = cand(make_record(run_id="r-failed", started=300.0, status="failed"))
    interrupted = cand(make_record(run_id="r-cut", started=200.0), run_status="incomplete")
    merge = choose(failed, interrupted, ok)
    assert [row.record["run_id"] for row in merge.rows] == ["r-ok"]
    why = {s.candidate.record["run_id"]: s.why for s in merge.skipped}
    assert why == {"r-failed": "failed: it failed", "r-cut": "its run is incomplete"}


def test_a_device_that_never_ran_keeps_its_row_with_its_reason(make_record):
    cpu = cand(make_record(run_id="r1"))
    gpu = cand(make_record("gpu", status="unavailable", run_id="r1"))
    merge = choose(cpu, gpu)
    assert [(row.host, row.record["device"]["name"], row.record["status"]) for row in merge.rows] == [
        ("vm", "cpu", "ok"), ("vm", "gpu", "unavailable")]
    assert merge.rows[1].speedup is None and not merge.skipped


def test_one_row_per_host_device_and_variant_with_speedups_against_the_first_cpu(make_record):
    a = cand(make_record(host="laptop", run_id="r1", samples=1000.0))
    b = cand(make_record("gpu", host="box", run_id="r2", samples=4000.0))
    c = cand(make_record(host="box", run_id="r2", samples=500.0))
    merge = choose(a, b, c)
    assert merge.reference == ("laptop", "cpu")
    assert [(row.host, row.record["device"]["name"], row.speedup, row.is_reference) for row in merge.rows] == [
        ("laptop", "cpu", 1.0, True), ("box", "gpu", 4.0, False), ("box", "cpu", 0.5, False)]


def test_an_asked_reference_is_used_and_a_wrong_one_is_refused(make_record):
    a = cand(make_record(host="laptop", run_id="r1", samples=1000.0))
    b = cand(make_record("gpu", host="box", run_id="r2", samples=4000.0))
    assert [row.speedup for row in choose(a, b, reference=("box", "gpu")).rows] == [0.25, 1.0]
    with pytest.raises(UsageError, match="names no row: choose one of laptop:cpu, box:gpu"):
        choose(a, b, reference=("box", "tpu"))
    gone = cand(make_record("gpu", host="box", run_id="r3", status="unavailable"))
    with pytest.raises(UsageError, match="has no ok result"):
        choose(a, gone, reference=("box", "gpu"))


def test_other_scenarios_are_skipped_not_mixed_in(make_record):
    merge = choose(cand(make_record(run_id="r1")), cand(make_record(run_id="r2", scenario="convergence")))
    assert len(merge.rows) == 1 and "convergence run" in merge.skipped[0].why


def test_different_fingerprints_are_refused_unless_allowed_and_then_marked(make_record):
    a = cand(make_record(host="laptop", run_id="r1", fingerprint="sha256:" + "a" * 64))
    b = cand(make_record(host="box", run_id="r2", fingerprint="sha256:" + "b" * 64))
    with pytest.raises(ResultsError) as excinfo:
        choose(a, b)
    message = excinfo.value.message
    assert "different workloads" in message and "aaaaaaaaaaaa… in run r1 (laptop)" in message
    assert "--allow-different-workloads" in message and "\n" not in message
    merge = choose(a, b, allow_different_workloads=True)
    assert [row.workload_differs for row in merge.rows] == [False, True]
    assert merge.warnings and merge.allowed_different_workloads


def test_variants_of_one_workload_are_not_a_difference_but_another_family_is(make_record):
    fp32 = make_record(host="laptop", run_id="r1")
    bf16 = make_record(host="laptop", run_id="r2", fingerprint="sha256:" + "c" * 64)
    bf16["workload"]["name"] += "@bf16-mixed"
    bf16["workload"]["config"]["precision"] = "bf16-mixed"
    assert not choose(cand(fp32), cand(bf16)).warnings
    bigger = make_record(host="box", run_id="r3", fingerprint="sha256:" + "d" * 64)
    bigger["workload"]["name"] = "tweets-bilstm-v1"
    bigger["workload"]["config"]["hidden_size"] = 128
    with pytest.raises(ResultsError, match="are different workloads"):
        choose(cand(fp32), cand(bigger))


def test_labels_and_references_are_parsed_or_refused_in_one_line():
    assert parse_labels(["results-a=laptop", "x=y=box"]) == {"results-a": "laptop", "x=y": "box"}
    assert parse_reference("box:gpu:0") == ("box", "gpu:0")
    for bad in ("laptop", "=laptop", "dir=", "dir=lap:top"):
        with pytest.raises(UsageError):
            parse_labels([bad])
    for bad in ("laptop", ":cpu", "laptop:"):
        with pytest.raises(UsageError):
            parse_reference(bad)


# --------------------------------------------------------------------------- reading the inputs


def test_results_dirs_run_dirs_and_files_are_read_with_labels(tmp_path, write_run, make_record):
    write_run(tmp_path / "a", [make_record(run_id="r1"), make_record("gpu", status="unavailable", run_id="r1")])
    run_b = write_run(tmp_path / "b", [make_record(run_id="r2", host="other")], dir_name="renamed-copy")
    lone = tmp_path / "c.json"
    lone.write_text(json.dumps(make_record(run_id="r3", host="third")))
    found = find_candidates([tmp_path / "a", run_b, lone], {str(tmp_path / "a"): "laptop"})
    assert [(c.host, c.key[1], c.run_status) for c in found] == [
        ("laptop", "cpu", "complete"), ("laptop", "gpu", "complete"), ("other", "cpu", "complete"),
        ("third", "cpu", "unknown")]


def test_the_same_run_given_twice_is_refused(tmp_path, write_run, make_record):
    run = write_run(tmp_path / "a", [make_record(run_id="r1")])
    with pytest.raises(ResultsError, match="same run"):
        find_candidates([tmp_path / "a", run], {})
    copy = write_run(tmp_path / "b", [make_record(run_id="r1")])
    with pytest.raises(ResultsError, match=r"are the same run \(r1\)"):
        find_candidates([run, copy], {})


def test_foreign_newer_missing_and_empty_inputs_are_refused(tmp_path, make_record):
    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps({"benchmarks": []}))
    with pytest.raises(ResultsError, match="not a tweetbench result"):
        find_candidates([foreign], {})
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(dict(make_record(), schema_version=99)))
    with pytest.raises(ResultsError, match="newer than this tweetbench reads"):
        find_candidates([newer], {})
    with pytest.raises(ResultsError, match="does not exist"):
        find_candidates([tmp_path / "nope"], {})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="holds no tweetbench run"):
        find_candidates([tmp_path / "empty"], {})


def test_a_label_must_name_an_input(tmp_path, write_run, make_record):
    write_run(tmp_path / "a", [make_record(run_id="r1")])
    with pytest.raises(UsageError, match="is not one of the inputs"):
        find_candidates([tmp_path / "a"], {"elsewhere": "laptop"})


def test_an_older_result_of_another_workload_is_a_difference_too_not_a_silent_skip(make_record):
    old = cand(make_record(run_id="r1", started=1.0, fingerprint="sha256:" + "a" * 64))
    new = cand(make_record(run_id="r2", started=2.0))
    with pytest.raises(ResultsError, match="aaaaaaaaaaaa… in run r1"):
        choose(old, new)
    merge = choose(old, new, allow_different_workloads=True)
    assert merge.skipped[0].why == "older than run r2's, and another workload (fingerprint aaaaaaaaaaaa…)"
