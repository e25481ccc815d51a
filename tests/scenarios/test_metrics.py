"""The benchmark scenario's metrics take every step figure from the one step summary (``summary.step_summary``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tweetbench.analysis.summary import step_summary
from tweetbench.harness.infer import InferenceRun
from tweetbench.harness.profiling import ProfileResult
from tweetbench.harness.train import TrainingRun
from tweetbench.scenarios.metrics import inference_metrics, profile_breakdown, training_metrics

STEPS = [0.010, 0.012, 0.011, 0.030, 0.009, 0.011]  # an even count: the p50 lies between two steps


def test_training_metrics_hold_the_step_summary_and_the_median_step_throughput_from_it():
    run = TrainingRun([0.05], STEPS, [1.0] * 7, 16, 1000, "rule", False, window_seconds=sum(STEPS))
    metrics = training_metrics(run)
    summary = step_summary(STEPS)
    assert metrics["step_ms"] == summary.to_dict()
    assert metrics["samples_per_s_median_step"] == pytest.approx(16 / (summary.p50 / 1e3))
    assert metrics["samples_per_s_median_step"] == pytest.approx(16 / 0.011)


def test_the_inference_overhead_is_the_ratio_of_the_two_latency_summaries():
    latency = InferenceRun(1, [], [0.004, 0.006, 0.005], model_seconds=[0.002, 0.004, 0.003])
    offline = InferenceRun(8, [], [0.02, 0.03], window_seconds=0.05)
    metrics = inference_metrics(latency, offline)
    request, model = metrics["latency_batch1_ms"], metrics["model_latency_batch1_ms"]
    assert request == step_summary(latency.batch_seconds).to_dict()
    assert model == step_summary(latency.model_seconds).to_dict()
    overhead = metrics["inference_overhead"]
    assert overhead["ratio_p50"] == pytest.approx(5.0 / 3.0) and overhead["loop_ms_p50"] == pytest.approx(2.0)
    assert overhead["ratio_mean"] == pytest.approx(request["mean"] / model["mean"])


def test_the_profile_breakdown_sets_the_profiled_step_against_the_p50_it_is_given(tmp_path: Path):
    # The timed pass's p50 comes from the record's step summary (benchmark._profile reads it): a p50 that no
    # sample set here has shows that it is not computed again.
    profiled = [0.020, 0.024, 0.022]
    result = ProfileResult({"parts": {}, "parts_step_ms": 22.0}, profiled, [], str(tmp_path / "p"),
                           advanced_step_seconds=[0.040])
    breakdown = profile_breakdown(result, 11.0, tmp_path)
    assert breakdown["unprofiled_step_ms"] == 11.0
    assert breakdown["profiled_step_ms"] == pytest.approx(22.0)
    assert breakdown["profiler_overhead"] == pytest.approx(1.0)
    assert breakdown["profilers"]["simple"] == {"profiled_step_ms": pytest.approx(22.0), "unprofiled_step_ms": 11.0,
                                                "overhead": pytest.approx(1.0)}
    assert breakdown["profilers"]["advanced"]["overhead"] == pytest.approx(40.0 / 11.0 - 1.0)
