"""The serving report, table, picture and max-QPS cell, rendered from a recorded tiny serve run."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tweetbench.report.serving import (
    MAX_QPS_COLUMN,
    console_rows,
    max_qps_cell,
    render_serving_report,
    serving_summary_lines,
)
from tweetbench.report.serving_plot import plot_serving, write_serving_plots

RECORD = json.loads((Path(__file__).resolve().parents[1] / "data" / "serve_cpu_result.json").read_text())
META = {"run_id": "20261206-045832-21a9b6", "preset": "smoke", "status": "complete", "started_at": 0,
        "command": ["tweetbench", "run", "--scenario", "serve"]}


def test_the_report_gives_every_scenario_every_point_and_the_compliance_note() -> None:
    text = render_serving_report(META, [RECORD])
    server = RECORD["metrics"]["serving"]["servers"]["inprocess"]
    assert "Not MLPerf-compliant" in text and "## Serving" in text
    assert f"{server['max_qps']:,.0f}" in text
    rows = sum(not p["valid"] for p in server["search"]["points"]) + 1  # + the overload point
    assert text.count("| **INVALID** |") == rows
    assert text.count("| **VALID** |") == sum(p["valid"] for p in server["search"]["points"])
    assert "(2× the maximum): **INVALID**, as it must be" in text
    assert "Cold start" in text and "identical to the model's own predictions" in text
    assert "plots/serving_cpu.png" in text


def test_a_served_prediction_that_differs_is_said_plainly() -> None:
    record = copy.deepcopy(RECORD)
    record["metrics"]["serving"]["servers"]["inprocess"]["accuracy"].update(matches_model=False, differing=3)
    assert "NOT identical to the model's own predictions (3 differ)" in render_serving_report(META, [record])


def test_the_max_qps_cell_gives_the_figure_its_p99_and_the_bound() -> None:
    server = RECORD["metrics"]["serving"]["servers"]["inprocess"]
    assert max_qps_cell(RECORD) == f"{server['max_qps']:,.0f} (p99 {server['max_qps_p99_s'] * 1000:.1f} ms ≤ 50 ms)"
    assert max_qps_cell({"metrics": {}}) == "–"
    assert MAX_QPS_COLUMN == "max QPS @ p99 ≤ bound"


def test_console_rows_and_summary_lines() -> None:
    headers, rows = console_rows([RECORD, {"device": {"name": "gpu"}, "status": "unavailable", "reason": "no GPU",
                                           "metrics": {}}])
    assert headers[0] == "device" and rows[0][2] == "inprocess" and rows[1][-1] == "no GPU"
    assert any("max Server QPS" in line for line in serving_summary_lines([RECORD]))


def test_the_picture_is_drawn_from_the_record_alone_and_none_without_points(tmp_path: Path) -> None:
    (path,) = write_serving_plots([RECORD], tmp_path)
    assert path == tmp_path / "plots" / "serving_cpu.png" and path.stat().st_size > 10_000
    empty = copy.deepcopy(RECORD)
    empty["metrics"]["serving"]["servers"]["inprocess"]["search"]["points"] = []
    assert plot_serving(empty, tmp_path / "none.png") is None


def test_merge_shows_a_serve_run_as_its_own_row_with_the_max_qps_column(make_record) -> None:
    from tweetbench.analysis.merge import Candidate, select
    from tweetbench.report.merge import render_merge_summary, summary_record

    serve = copy.deepcopy(RECORD)
    serve["environment"]["hostname"] = "vm"
    found = [make_record(run_id="r-bench"), serve]
    merge = select([Candidate(r, f"{r['run_id']}.json", "in", "vm", "complete") for r in found], reference=None,
                   reference_kind="cpu")
    assert len(merge.rows) == 2 and not merge.skipped  # the benchmark row is not replaced by the serve row
    text = render_merge_summary(merge, ["results"])
    assert f"| {MAX_QPS_COLUMN} |" in text and max_qps_cell(serve) in text
    rows = summary_record(merge, ["results"])["rows"]
    assert [row["serving"] is not None for row in rows].count(True) == 1


def test_the_server_gap_is_written_with_both_factors_and_the_threads() -> None:
    record = copy.deepcopy(RECORD)
    server = record["metrics"]["serving"]["servers"]["inprocess"]
    server.pop("server_gap")
    server.pop("torch_threads")
    text = render_serving_report(META, [record])
    assert "Max Server QPS over Offline" not in text and "torch threads" not in text  # an older record
    server["torch_threads"] = 1
    server["server_gap"] = {"ratio": 0.79, "busy_share": {"server": 0.976, "offline": 0.987, "factor": 0.989},
                            "ms_per_request": {"server": 0.365, "offline": 0.291, "factor": 0.799},
                            "mean_batch": {"server": 15.27, "offline": 63.9}, "server_target_qps": 2668.0}
    text = render_serving_report(META, [record])
    assert "Max Server QPS over Offline: **0.79×** = busy share 0.99" in text
    assert "cost per request 0.80 (0.365 ms against 0.291 ms, in batches of 15.3 on average against 63.9)" in text
    assert "torch threads 1 (every core but one" in text


def _interfered(record: dict, what: str = "inprocess server_100qps") -> dict:
    """The record as if the named run's window had another process on 0.9 of the 2 cores."""
    record = copy.deepcopy(record)
    quiet = {"interfered": False, "reasons": [], "cpu_measured": True, "cores": 2, "others_cores": 0.02,
             "steal_cores": 0.0, "stalled_steps": 0, "stalled_s": 0.0, "window_s": 1.0, "cut_short": None}
    busy = {**quiet, "interfered": True, "others_cores": 0.9,
            "reasons": ["other processes used 0.90 of the 2 cores (threshold 0.25)"]}
    point = record["metrics"]["serving"]["servers"]["inprocess"]["search"]["points"][0]
    point["interference"] = busy
    record["metrics"]["interference"] = {"policy": "flag", "interfered": True, "interfered_windows": [what],
                                         "windows": {"inprocess single_stream": quiet, what: busy}}
    return record


def test_an_interfered_run_is_named_in_the_report_its_point_and_the_console_status() -> None:
    record = _interfered(RECORD)
    text = render_serving_report(META, [record])
    assert ("- Interference: 2 timed LoadGen runs probed; other processes used at most 0.90 of the 2 cores "
            "(inprocess server_100qps).") in text
    assert ("- Interfered runs: inprocess server_100qps; other processes used 0.90 of the 2 cores (threshold 0.25); "
            "policy `--on-interference flag`.") in text
    assert "| 0.90 (interfered) |" in text
    _, rows = console_rows([record])
    assert rows[0][1] == "ok (interference: 0.9 cores)"


def test_a_quiet_run_says_it_was_probed_and_nothing_interfered() -> None:
    record = _interfered(RECORD)
    record["metrics"]["interference"].update(interfered=False, interfered_windows=[])
    record["metrics"]["interference"]["windows"]["inprocess server_100qps"].update(
        interfered=False, others_cores=0.05, reasons=[])
    text = render_serving_report(META, [record])
    assert ("- Interference: 2 timed LoadGen runs probed; other processes used at most 0.05 of the 2 cores "
            "(inprocess server_100qps); none interfered.") in text
    assert "Interfered runs" not in text
    _, rows = console_rows([record])
    assert rows[0][1] == "ok"
