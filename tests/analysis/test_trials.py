"""Aggregation over repeated trials: headline medians with honest intervals, pooling, the noisy flag."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from tweetbench.analysis.summary import Summary
from tweetbench.analysis.trials import aggregate, headline_interval, min_max_coverage
from tweetbench.records import DeviceResult, dumps, parse_result

DATA = Path(__file__).parent.parent / "data"
BASE = json.loads((DATA / "cpu_result.json").read_text())


def trial(step_ms, *, load=0.5, status="ok", reason=""):
    """A trial record whose measured training steps are ``step_ms`` (and everything derived from them)."""
    data = copy.deepcopy(BASE)
    steps = [s / 1e3 for s in step_ms]
    train = data["metrics"]["training"]
    train.update(raw_step_s=steps, step_ms=Summary.from_samples(step_ms).to_dict(), measured_steps=len(steps),
                 measured_seconds=sum(steps), samples_per_s=train["batch_size"] * len(steps) / sum(steps),
                 tokens_per_s=20 * train["batch_size"] * len(steps) / sum(steps))
    data["environment"]["noise"] = {"load_average": [load, load, load], "cpu_steal_fraction": 0.0,
                                    "cpu_governor": None, "cpu_percent": 10.0}
    data.update(status=status, reason=reason)
    return DeviceResult(data)


def steady(mean_ms, n=200, cv=0.01, seed=0):
    return list(np.random.default_rng(seed).normal(mean_ms, mean_ms * cv, n))


def files(n):
    return [f"trials/cpu.trial{k}.json" for k in range(1, n + 1)]


def test_three_quiet_trials_give_the_median_with_the_min_max_range_and_its_true_coverage():
    trials = [trial(steady(m, seed=i)) for i, m in enumerate((2.0, 2.006, 1.995))]
    result = aggregate(trials, files(3), 3).to_dict()
    section = result["trials"]
    rates = sorted(t.to_dict()["metrics"]["training"]["samples_per_s"] for t in trials)
    head = section["headline"]["train_samples_per_s"]
    assert head["estimate"] == pytest.approx(rates[1])
    assert (head["low"], head["high"]) == pytest.approx((rates[0], rates[2]))
    assert head["coverage"] == pytest.approx(0.75) and "not 95%" in head["method"]
    assert result["metrics"]["training"]["samples_per_s"] == pytest.approx(rates[1])
    # Pooled distributions: every measured step of every trial, in trial order.
    pooled = [s for t in trials for s in t.to_dict()["metrics"]["training"]["raw_step_s"]]
    assert result["metrics"]["training"]["raw_step_s"] == pooled
    assert result["metrics"]["training"]["measured_steps"] == 600
    # Per-trial figures: CV, warm-up used, interval, noise state, file.
    per_trial = section["per_trial"]
    assert [t["trial"] for t in per_trial] == [1, 2, 3]
    assert per_trial[1]["file"] == "trials/cpu.trial2.json"
    assert all(t["step_cv"] < 0.02 and t["warmup_steps"] == BASE["metrics"]["training"]["warmup_steps"]
               for t in per_trial)
    assert per_trial[0]["noise"]["load_average"] == [0.5, 0.5, 0.5]
    assert section["representative"] == 1  # the trial with the median throughput (2.0 ms)
    assert result["trial"] == 0 and result["noisy"] is False and result["noise_reasons"] == []
    assert parse_result(dumps(DeviceResult(result)), "x").to_dict() == result  # schema-valid, round-trips


def test_a_trial_whose_typical_step_varies_makes_the_result_noisy():
    # Changed on purpose (issue 22): the within-trial rule is the robust MAD/median, not the CV.
    result = aggregate([trial(steady(2.0, seed=1)), trial(steady(2.0, cv=0.2, seed=2))], files(2), 2).to_dict()
    assert result["noisy"] is True
    assert any(r.startswith("trial 2: its typical step varied, MAD/median") for r in result["noise_reasons"])
    noise = result["trials"]["noise"]
    assert noise["within_trial"][1] > noise["within_limit"] == 0.10 > noise["within_trial"][0]


def test_one_stall_in_a_quiet_trial_does_not_make_the_result_noisy():
    stalled = steady(2.0, seed=2)
    stalled[100] = 4400.0  # one 4.4 s stall among 2 ms steps: its CV is far above the old 5% rule
    result = aggregate([trial(steady(2.0, seed=1)), trial(stalled), trial(steady(2.0, seed=3))], files(3), 3)
    data = result.to_dict()
    assert data["trials"]["per_trial"][1]["step_cv"] > 0.05
    assert data["noisy"] is False and data["noise_reasons"] == []
    assert data["trials"]["noise"]["between_trials"] < 0.05
    assert data["trials"]["noise"]["detectable"].startswith("at this spread (sd ")


def test_trials_that_spread_between_them_make_the_result_noisy():
    # Changed on purpose (issue 22): the between-trial spread (sd of the log median steps), not the overlap of
    # per-step intervals that claimed a coverage they did not have. Each trial is steady, the second 20% slower.
    result = aggregate([trial(steady(2.0, seed=1)), trial(steady(2.4, seed=2))], files(2), 2).to_dict()
    assert result["noisy"] is True
    assert result["noise_reasons"][0].startswith("between-trial spread 12.9% (sd of the log median steps")
    assert not any("MAD" in r for r in result["noise_reasons"])
    ci = result["trials"]["per_trial"][0]["step_p50_ci_ms"]
    assert ci[0] < result["trials"]["per_trial"][0]["step_p50_ms"] < ci[1]
    assert result["trials"]["per_trial"][0]["step_p50_ci_method"].startswith("within-trial, batch means")


def test_a_single_trial_has_no_interval_but_still_gets_the_within_trial_rule():
    result = aggregate([trial(steady(2.0, cv=0.2))], files(1), 1).to_dict()
    head = result["trials"]["headline"]["train_samples_per_s"]
    assert head["low"] is None and head["high"] is None and "single trial" in head["method"]
    assert result["noisy"] is True and result["trials"]["noise"]["between_trials"] is None


def test_a_single_trial_is_passed_through_with_its_figures_untouched():
    data = trial(steady(2.0, seed=5)).to_dict()
    # A summary that its samples would not give (p90 raised to the p99): rebuilt from them, it would change.
    step_ms = data["metrics"]["training"]["step_ms"]
    step_ms["p90"] = step_ms["p99"]
    result = aggregate([DeviceResult(data)], ["cpu.json"], 1).to_dict()
    assert result["metrics"] == data["metrics"] and result["breakdown"] == data["breakdown"]
    added = ("trial", "trials", "noisy", "noise_reasons")
    assert {k: v for k, v in result.items() if k not in added} == {k: v for k, v in data.items() if k not in added}
    section = result["trials"]
    assert section["count"] == 1 and section["representative"] == 1 and section["breakdown_trial"] == 1
    assert section["per_trial"][0]["file"] == "cpu.json"
    assert section["per_trial"][0]["step_p50_ms"] == step_ms["p50"]  # read from the summary, not recomputed


def test_several_trials_pool_their_steps_into_one_step_summary():
    trials = [trial(steady(m, seed=i)) for i, m in enumerate((2.0, 3.0))]
    result = aggregate(trials, files(2), 2).to_dict()
    pooled = [s for t in trials for s in t.to_dict()["metrics"]["training"]["raw_step_s"]]
    assert result["metrics"]["training"]["step_ms"] == Summary.from_samples([s * 1e3 for s in pooled]).to_dict()
    # The headline's per-trial figures are each trial's own, not the pooled summary's.
    p50s = [t.to_dict()["metrics"]["training"]["step_ms"]["p50"] for t in trials]
    assert result["trials"]["headline"]["train_step_p50_ms"]["estimate"] == pytest.approx(sum(p50s) / 2)


def test_the_overhead_interval_pools_the_rounds_of_every_trial():
    trials = []
    for k, level in enumerate((0.97, 0.90, 0.97)):  # trial 2's rounds see a higher overhead
        data = trial(steady(2.0, seed=k)).to_dict()
        rng = np.random.default_rng(k)
        bare = [list(0.01 * rng.lognormal(0, 0.01, 20)) for _ in range(4)]
        lightning = [[s / level for s in block] for block in bare]
        data["metrics"]["overhead"] = {"ratio": level, "target": 0.95, "raw_lightning_s": lightning,
                                       "raw_bare_s": bare, "verdict": "meets", "ci95": [level, level]}
        trials.append(DeviceResult(data))
    overhead = aggregate(trials, files(3), 3).to_dict()["metrics"]["overhead"]
    assert len(overhead["raw_bare_s"]) == 12 and overhead["trial_ratios"] == [0.97, 0.90, 0.97]
    assert overhead["ci95"][0] < 0.95 < overhead["ci95"][1]  # the median trial alone said "meets"
    assert overhead["verdict"] == "unresolved at this noise" and "3 trials pooled" in overhead["ci_method"]


def test_six_trials_reach_a_distribution_free_95_percent_interval():
    h = headline_interval([10.0, 11.0, 9.0, 10.5, 9.5, 10.2], "samples/s")
    assert h.method.startswith("order-statistic") and h.coverage >= 0.95
    assert (h.low, h.high) == (9.0, 11.0)
    assert min_max_coverage(3) == 0.75 and min_max_coverage(5) == 0.9375


def test_a_failed_trial_ends_the_device_with_its_reason_and_keeps_the_earlier_trials():
    failed = copy.deepcopy(BASE)
    failed.update(status="failed", reason="worker died from SIGKILL")
    del failed["metrics"]["training"]
    result = aggregate([trial(steady(2.0)), DeviceResult(failed)], files(2), 3).to_dict()
    assert result["status"] == "failed" and result["reason"] == "trial 2 of 3: worker died from SIGKILL"
    assert [t["status"] for t in result["trials"]["per_trial"]] == ["ok", "failed"]
    assert result["trials"]["headline"] == {} and "noisy" not in result


def test_mismatched_files_are_a_programming_error():
    with pytest.raises(ValueError):
        aggregate([trial(steady(2.0))], files(2), 2)


def test_gpu_clocks_come_from_the_measured_window_where_the_device_reports_them():
    record = trial(steady(2.0)).to_dict()
    assert aggregate([DeviceResult(record)], files(1), 1).to_dict()["trials"]["per_trial"][0]["noise"]["gpu_clocks"] \
        is None  # the CPU has none
    record["metrics"]["device_counters"] = {"nvml": {"sm_clock_mhz": {"p50": 1980.0, "min": 1755.0},
                                                     "throttle_reasons_end": ["sw_thermal_slowdown"]}}
    record["device"]["facts"] = {"max_sm_clock_mhz": 1980}
    clocks = aggregate([DeviceResult(record)], files(1), 1).to_dict()["trials"]["per_trial"][0]["noise"]["gpu_clocks"]
    assert clocks == {"sm_p50_mhz": 1980.0, "sm_min_mhz": 1755.0, "sm_max_allowed_mhz": 1980,
                      "throttle_reasons": ["sw_thermal_slowdown"]}
