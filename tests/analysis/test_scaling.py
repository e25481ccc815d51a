"""Data-parallel arithmetic: global throughput, stragglers, communication share, merged profiles, efficiency."""

import copy
import json
from pathlib import Path

import pytest

from tweetbench.analysis import scaling
from tweetbench.analysis.summary import Summary
from tweetbench.errors import ResultsError
from tweetbench.records import DeviceResult, new_result

FP = "sha256:" + "a" * 64
OTHER_FP = "sha256:" + "b" * 64


def test_global_throughput_is_all_samples_over_the_slowest_rank():
    # Rank 1 takes 0.3 s for its 3 steps, rank 0 0.15 s: the job ends with rank 1.
    steps = [[0.05, 0.05, 0.05], [0.1, 0.1, 0.1]]
    assert scaling.global_samples_per_s(16, steps) == pytest.approx(2 * 16 * 3 / 0.3)
    assert scaling.slowest_rank_steps([[0.1, 0.3], [0.2, 0.1]]) == [0.2, 0.3]


@pytest.mark.parametrize("steps", [[], [[0.1], []], [[0.1, 0.1], [0.1]]])
def test_ranks_must_have_the_same_number_of_steps(steps):
    with pytest.raises(ValueError):
        scaling.global_samples_per_s(16, steps)


def test_union_of_in_flight_intervals_counts_overlaps_once():
    assert scaling.union_seconds([]) == 0
    assert scaling.union_seconds([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]) == pytest.approx(3.0)
    assert scaling.union_seconds([(2.0, 3.0), (0.0, 5.0)]) == pytest.approx(5.0)  # nested, out of order
    assert scaling.union_seconds([(-1.0, 0.0), (0.0, 1.0)]) == pytest.approx(2.0)  # touching


def test_straggler_spread_names_the_slowest_and_fastest_rank():
    out = scaling.spread([0.010, 0.012, 0.011])
    assert (out["slowest_rank"], out["fastest_rank"]) == (1, 0)
    assert out["spread"] == pytest.approx(0.2)
    assert out["slowest_ms"] == pytest.approx(12.0)


def test_a_straggler_shows_in_compute_not_in_lock_step_step_times():
    # Both ranks step in 10 ms (lock-step); rank 0 spends 6 of them waiting in the all-reduce.
    steps = [[0.010] * 4, [0.010] * 4]
    comm = [[0.006] * 4, [0.001] * 4]
    out = scaling.stragglers(steps, comm)
    assert out["step"]["spread"] == pytest.approx(0.0)
    assert out["compute"]["slowest_rank"] == 1 and out["compute"]["fastest_rank"] == 0
    assert out["compute"]["spread"] == pytest.approx(0.009 / 0.004 - 1)
    assert scaling.stragglers(steps, None)["compute"] is None
    assert scaling.communication_share(steps, comm) == pytest.approx((0.6 + 0.1) / 2)


def test_rank_figures_summarise_steps_and_communication():
    figures = scaling.rank_figures(1, 16, [0.01, 0.02], [0.004, 0.03])
    assert figures["rank"] == 1
    assert figures["step_ms"] == Summary.from_samples([10.0, 20.0]).to_dict()
    assert figures["samples_per_s"] == pytest.approx(32 / 0.03)
    assert figures["compute_ms"]["min"] == 0.0  # comm longer than the step never gives negative compute
    assert figures["comm_share"] == pytest.approx(0.034 / 0.03)
    assert "comm_ms" not in scaling.rank_figures(0, 16, [0.01], None)


def _breakdown(**ms):
    parts = {name: {"ms_per_step": ms.get(name, 0.0), "share": 0.0} for name in scaling.PARTS}
    return {"parts": parts, "parts_step_ms": sum(ms.values())}


def test_merged_breakdown_averages_the_ranks_and_shares_sum_to_one():
    merged = scaling.merge_breakdowns([_breakdown(forward=2.0, backward=6.0), _breakdown(forward=4.0, backward=8.0)])
    assert merged["parts"]["forward"]["ms_per_step"] == pytest.approx(3.0)
    assert merged["parts"]["backward"]["ms_per_step"] == pytest.approx(7.0)
    assert merged["parts_step_ms"] == pytest.approx(10.0)
    assert sum(p["share"] for p in merged["parts"].values()) == pytest.approx(1.0)
    assert merged["bottleneck"] == "backward" and merged["ranks"] == 2
    assert "mean of 2 ranks" in merged["verdict"]
    with pytest.raises(ValueError):
        scaling.merge_breakdowns([])


def test_scaling_efficiency():
    assert scaling.scaling_efficiency(1800.0, 2, 1000.0) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        scaling.scaling_efficiency(1800.0, 2, 0.0)


# --------------------------------------------------------------------------- against a reference record


def _record(*, kind="cpu", status="ok", fingerprint=FP, sps=1000.0, world=None, run_id="r1", noisy=None):
    name = kind if world is None else f"{kind}:{world}"
    extra = {}
    if world is not None:
        extra["distributed"] = {"strategy": "ddp", "world_size": world, "num_nodes": 1, "devices_per_node": world,
                                "per_device_batch": 16, "global_batch": 16 * world}
    if noisy is not None:
        extra["noisy"] = noisy
    metrics = {"training": {"samples_per_s": sps}} if status == "ok" else {}
    # Built as plain dicts: compare_to_reference reads records, it does not validate them.
    return {"tool": "tweetbench", "run_id": run_id, "status": status, "reason": "" if status == "ok" else "broke",
            "device": {"name": name, "kind": kind}, "workload": {"fingerprint": fingerprint}, "metrics": metrics,
            **extra}


def test_efficiency_against_a_matching_single_device_run():
    out = scaling.compare_to_reference(_record(world=2, sps=1800.0), _record(sps=1000.0), "this run")
    assert out["efficiency"] == pytest.approx(0.9)
    assert out["speedup"] == pytest.approx(1.8)
    assert out["reason"] == "" and out["noisy"] is False
    assert out["reference"]["samples_per_s"] == 1000.0 and out["reference"]["source"] == "this run"
    assert "baseline" not in out  # the old name is read (scaling_reference), never written
    noisy = scaling.compare_to_reference(_record(world=2, sps=1800.0), _record(noisy=True), "this run")
    assert noisy["noisy"] is True


@pytest.mark.parametrize("reference, why", [
    (None, "no single-device reference"),
    (_record(fingerprint=OTHER_FP), "fingerprints differ"),
    (_record(kind="gpu"), "the reference ran on gpu"),
    (_record(status="failed"), "reference is failed: broke"),
    (_record(world=2), "itself a data-parallel run"),
])
def test_efficiency_is_not_computed_when_the_runs_are_not_comparable(reference, why):
    out = scaling.compare_to_reference(_record(world=2, sps=1800.0), reference, "this run")
    assert "baseline" not in out["reason"]
    assert out["efficiency"] is None and out["speedup"] is None
    assert why in out["reason"]


def test_efficiency_is_not_computed_for_a_failed_data_parallel_run():
    out = scaling.compare_to_reference(_record(world=2, status="failed"), _record(), "x")
    assert out["efficiency"] is None and "this run is failed" in out["reason"]


# --------------------------------------------------------------------------- records and files


DATA = Path(__file__).parent.parent / "data"


def _valid_reference(**changes) -> DeviceResult:
    data = json.loads((DATA / "cpu_result.json").read_text())
    data.update(changes)
    return DeviceResult(data)


def _valid_parallel(reference: DeviceResult) -> DeviceResult:
    data = reference.to_dict()
    data["device"] = {**data["device"], "name": "cpu:2"}
    data["metrics"]["training"]["global_batch"] = 2 * data["metrics"]["training"]["batch_size"]
    data["distributed"] = {
        "strategy": "ddp", "world_size": 2, "num_nodes": 1, "devices_per_node": 2,
        "per_device_batch": data["metrics"]["training"]["batch_size"],
        "global_batch": data["metrics"]["training"]["global_batch"],
        "ranks": [scaling.rank_figures(r, 16, [0.01, 0.012], [0.002, 0.003]) for r in (0, 1)],
        "straggler": scaling.stragglers([[0.01, 0.012]] * 2, [[0.002, 0.003]] * 2),
        "communication": {"measured": True, "method": "hook", "share": 0.2},
        "scaling": {"efficiency": None, "speedup": None, "reason": scaling.PENDING, "reference": None},
    }
    return DeviceResult(data)


def test_with_scaling_fills_a_valid_record_and_pick_reference_skips_parallel_results():
    base = _valid_reference()
    parallel = _valid_parallel(base)
    assert scaling.pick_reference([parallel, base], "cpu") is base
    assert scaling.pick_reference([parallel], "cpu") is None
    done = scaling.with_scaling(parallel, base, "this run").to_dict()["distributed"]["scaling"]
    assert done["efficiency"] == pytest.approx(0.5)  # same samples/s on twice the devices
    assert parallel.to_dict()["distributed"]["scaling"]["efficiency"] is None  # records stay immutable


def test_the_scaling_reference_is_read_under_its_old_name_too():
    info = {"run_id": "r1", "device": "cpu", "source": "this run"}
    assert scaling.scaling_reference({"efficiency": None, "reason": "x", "reference": info}) is info
    assert scaling.scaling_reference({"efficiency": None, "reason": "x", "baseline": info}) is info  # an old record
    assert scaling.scaling_reference({"efficiency": None, "reason": "x"}) is None
    old = _valid_parallel(_valid_reference()).to_dict()
    old["distributed"]["scaling"] = {"efficiency": None, "speedup": None, "reason": "x", "baseline": info}
    assert DeviceResult(old).data["distributed"]["scaling"]["baseline"] == info  # old records stay valid


def test_the_schema_refuses_an_uncomputed_efficiency_without_a_reason():
    bad = _valid_parallel(_valid_reference()).to_dict()
    bad["distributed"]["scaling"]["reason"] = ""
    with pytest.raises(ResultsError, match="distributed/scaling"):
        DeviceResult(bad)
    no_ranks = copy.deepcopy(bad)
    no_ranks["distributed"]["scaling"]["reason"] = "x"
    del no_ranks["distributed"]["ranks"]
    with pytest.raises(ResultsError, match="ranks"):
        DeviceResult(no_ranks)


def test_load_reference_from_a_file_or_a_run_directory(tmp_path):
    base = _valid_reference()
    (tmp_path / "cpu.json").write_text(json.dumps(base.to_dict()))
    (tmp_path / "cpu-2.json").write_text(json.dumps(_valid_parallel(base).to_dict()))
    (tmp_path / "run.json").write_text("{}")
    assert scaling.load_reference(tmp_path, "cpu").device == "cpu"
    assert scaling.load_reference(tmp_path / "cpu.json").device == "cpu"
    with pytest.raises(ResultsError, match="no single-device gpu result"):
        scaling.load_reference(tmp_path, "gpu")
    with pytest.raises(ResultsError, match="data-parallel result"):
        scaling.load_reference(tmp_path / "cpu-2.json")
    with pytest.raises(ResultsError):
        scaling.load_reference(tmp_path / "missing.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ResultsError, match="no result files"):
        scaling.load_reference(empty, "cpu")


def test_new_result_accepts_a_failed_record_with_a_minimal_distributed_section():
    section = {"strategy": "ddp", "world_size": 2, "num_nodes": 1, "devices_per_node": 2, "per_device_batch": 16,
               "global_batch": 32, "scaling": {"efficiency": None, "reason": "this run is failed"}}
    result = new_result(run_id="r", device={"name": "cpu:2", "kind": "cpu", "label": "x", "hardware": "?"},
                        status="failed", reason="rank 1 failed", workload={"name": "w", "config": {},
                                                                          "fingerprint": None},
                        environment={}, command=[], distributed=section)
    assert result.status == "failed"
