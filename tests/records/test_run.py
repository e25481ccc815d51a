"""run.json is written and read through records.run, with its keys as constants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tweetbench.errors import ResultsError
from tweetbench.records import run


def _meta(run_id: str, status: run.RunStatus = "running") -> dict[str, object]:
    return run.run_meta(run_id=run_id, started=1.7e9, status=status, devices=["cpu", "gpu"], workload="tweets-bilstm-tiny",
                        preset="smoke", scenario="benchmark", command=["tweetbench", "run"], repeats=1)


def test_a_written_run_json_reads_back(tmp_path: Path) -> None:
    run_id, run_dir = run.new_run_dir(tmp_path)
    run.write_meta(run_dir, _meta(run_id, "complete"))
    meta = run.read_meta(run_dir)
    assert meta[run.R_RUN_ID] == run_id and meta[run.R_STATUS] == "complete"
    assert meta[run.R_FINISHED] is not None
    assert json.loads((run_dir / run.RUN_META).read_text())[run.R_DEVICES] == ["cpu", "gpu"]
    assert run.latest_run_dir(tmp_path) == tmp_path / run_id
    assert run.load_run(run_dir) == (meta, [])


def test_a_running_run_has_no_finish_time() -> None:
    assert _meta("x")[run.R_FINISHED] is None


def test_a_run_json_of_another_status_is_refused(tmp_path: Path) -> None:
    run_id, run_dir = run.new_run_dir(tmp_path)
    run.write_meta(run_dir, {**_meta(run_id), run.R_STATUS: "half-done"})
    with pytest.raises(ResultsError, match="its status is not one of running, complete, incomplete"):
        run.read_meta(run_dir)


def test_result_files_leave_run_json_out(tmp_path: Path) -> None:
    for name in ("run.json", "cpu.json", "gpu-1.json"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in run.result_files(tmp_path)] == ["cpu.json", "gpu-1.json"]


def _ab_section(**changes: object) -> dict[str, object]:
    section: dict[str, object] = {"device": "cpu", run.AB_ORDER: ["A", "B", "B", "A"], run.AB_GATE: None,
                                  run.AB_SIDES: {"A": {run.AB_DIR: "a"}, "B": {run.AB_DIR: "b"}}}
    return {**section, **changes}


def test_an_interleaved_run_records_its_sides_and_is_never_the_latest_run(tmp_path: Path) -> None:
    plain_id, plain_dir = run.new_run_dir(tmp_path)
    run.write_meta(plain_dir, _meta(plain_id, "complete"))
    ab_id, ab_dir = run.new_run_dir(tmp_path)
    run.write_meta(ab_dir, {**_meta(ab_id, "complete"), run.R_KIND: "ab", run.R_AB: _ab_section(),
                            run.R_STARTED: 1.8e9})
    meta = run.read_meta(ab_dir)
    assert meta[run.R_KIND] == "ab" and meta[run.R_AB][run.AB_ORDER] == ["A", "B", "B", "A"]
    assert run.latest_run_dir(tmp_path) == plain_dir  # the A/B run is newer, but not a 'tweetbench run'


@pytest.mark.parametrize("section", [None, _ab_section(**{run.AB_ORDER: ["A", "C"]}),
                                     _ab_section(**{run.AB_SIDES: {"A": {run.AB_DIR: "../elsewhere"},
                                                                   "B": {run.AB_DIR: "b"}}}),
                                     _ab_section(**{run.AB_SIDES: {"A": {run.AB_DIR: "a"}}})])
def test_an_ab_run_json_whose_sides_cannot_be_trusted_is_refused(tmp_path: Path, section: object) -> None:
    run_id, run_dir = run.new_run_dir(tmp_path)
    run.write_meta(run_dir, {**_meta(run_id), run.R_KIND: "ab", run.R_AB: section})
    with pytest.raises(ResultsError, match="does not name both sides' folders and the run order"):
        run.read_meta(run_dir)


def test_a_run_json_of_another_kind_is_refused(tmp_path: Path) -> None:
    run_id, run_dir = run.new_run_dir(tmp_path)
    run.write_meta(run_dir, {**_meta(run_id), run.R_KIND: "tune"})
    with pytest.raises(ResultsError, match="its kind is not one of run, ab"):
        run.read_meta(run_dir)
