"""The scaling table and per-rank tables, rendered from records alone."""

import copy
import json
from pathlib import Path

from tweetbench.analysis import scaling
from tweetbench.report.markdown import render_run_report, render_summary
from tweetbench.report.scaling import rank_table, scaling_section, scaling_table

DATA = Path(__file__).parent.parent / "data"


def _single():
    return json.loads((DATA / "cpu_result.json").read_text())


def _parallel(reference, *, efficiency=0.45, reason=""):
    data = copy.deepcopy(reference)
    data["device"] = {**data["device"], "name": "cpu:2", "label": "CPU (AMD EPYC) ×2 (ddp)"}
    data["metrics"] = {"training": {**data["metrics"]["training"], "samples_per_s": 7421.0, "global_batch": 32},
                       "memory": data["metrics"]["memory"]}
    steps = [[0.004, 0.0042, 0.0041], [0.0041, 0.0043, 0.0040]]
    comm = [[0.0015, 0.0016, 0.0014], [0.0004, 0.0005, 0.0003]]
    ranks = [scaling.rank_figures(r, 16, steps[r], comm[r]) for r in (0, 1)]
    for rank in ranks:
        rank.update({"node_rank": 0, "host": "node-a", "peak_rss_bytes": 700 * 2**20})
    data["distributed"] = {
        "strategy": "ddp", "launcher": "torchrun", "process_group_backend": "gloo", "world_size": 2, "num_nodes": 1,
        "devices_per_node": 2, "per_device_batch": 16, "global_batch": 32, "ranks": ranks,
        "straggler": scaling.stragglers(steps, comm),
        "communication": {"measured": True, "method": "DDP hook.", "share": scaling.communication_share(steps, comm),
                          "ms_per_step": 0.95, "buckets_per_step": 1, "bytes_per_step": 324624},
        "scaling": {"efficiency": efficiency, "speedup": None if efficiency is None else 2 * efficiency,
                    "reason": reason,
                    "reference": {"run_id": reference["run_id"], "device": "cpu", "status": "ok",
                                  "fingerprint": reference["workload"]["fingerprint"], "samples_per_s": 8247.0,
                                  "source": "this run"}},
    }
    return data


def test_scaling_table_rows_reference_then_data_parallel_run():
    base = _single()
    table = scaling_table([base, _parallel(base)])
    lines = table.splitlines()
    assert lines[0].startswith("| devices | world size | global batch | samples/s | scaling efficiency | "
                               "communication share |")
    assert lines[2].startswith("| cpu (single device, this run) | 1 | 16 | 8,247 | reference |")
    assert lines[3].startswith("| cpu:2 ddp | 2 | 32 | 7,421 | 0.45 (0.90× one device) | 23.1% |")
    assert "(rank 1 vs 0)" in lines[3] and lines[3].endswith("| ok |")


def test_a_record_from_before_the_rename_shows_its_reference_row_alike():
    base = _single()
    new = _parallel(base)
    old = copy.deepcopy(new)
    old["distributed"]["scaling"]["baseline"] = old["distributed"]["scaling"].pop("reference")
    assert scaling_table([base, old]) == scaling_table([base, new])
    assert "| reference |" in scaling_table([base, old])


def test_an_uncomputed_efficiency_says_why_and_an_earlier_reference_names_its_run():
    base = _single()
    run = _parallel(base, efficiency=None, reason="workload fingerprints differ")
    run["distributed"]["scaling"]["reference"]["source"] = "/old/run"
    table = scaling_table([run])
    assert "not computed: workload fingerprints differ" in table
    assert f"(single device, run `{base['run_id']}`)" in table


def test_rank_table_lists_every_rank():
    lines = rank_table(_parallel(_single())).splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| 0 | 0 / node-a | 4.10 / 4.18 / 4.20 |")
    assert "700 MiB" in lines[3]


def test_section_is_absent_without_data_parallel_results_and_in_both_reports_with_them():
    base = _single()
    assert scaling_section([base]) == []
    meta = {"run_id": base["run_id"], "status": "complete", "preset": "smoke", "scenario": "benchmark",
            "command": ["tweetbench", "run"], "started_at": 0}
    results = [base, _parallel(base)]
    report = render_run_report(meta, results)
    assert "## Scaling" in report and "launched by torchrun" in report
    assert "batch of 16 per device" in report  # the plain-words sentence copes with no inference figures
    assert "## Scaling" in render_summary(meta, results)


def test_a_failed_data_parallel_run_has_a_row_with_its_reason():
    base = _single()
    failed = {**_parallel(base), "status": "failed", "reason": "rank 1 failed: RuntimeError: boom", "metrics": {}}
    failed["distributed"] = {key: failed["distributed"][key] for key in
                             ("strategy", "world_size", "num_nodes", "devices_per_node", "per_device_batch",
                              "global_batch")}
    failed["distributed"]["scaling"] = {"efficiency": None, "reason": "this run is failed", "reference": None}
    section = "\n".join(scaling_section([base, failed]))
    assert "| cpu:2 ddp | 2 | 32 | – | not computed: this run is failed | – | – | failed: rank 1 failed" in section
