"""Where the time goes, rendered from records alone: overheads, functions, operators, timeline, XLA, pictures."""

import copy
import json
from pathlib import Path

from tweetbench.analysis.operators import operator_breakdown
from tweetbench.analysis.timeline import device_timeline
from tweetbench.report.markdown import render_run_report
from tweetbench.report.profile import profile_lines, profile_section
from tweetbench.report.profile_plots import BREAKDOWN_PNG, OPERATORS_PNG, STEP_TIMES_PNG

DATA = Path(__file__).parent.parent / "data"


def traced(trace, trace_file):
    entry = operator_breakdown(trace)
    entry.update({"timeline": device_timeline(trace), "trace": trace_file, "trace_bytes": 1234, "trace_steps": 2,
                  "profiler": {"profiled_step_ms": 0.11, "unprofiled_step_ms": 0.1, "overhead": 0.1}})
    return entry


def profiled_record(training_trace):
    record = json.loads((DATA / "cpu_result.json").read_text())
    b = record["breakdown"]
    b["profilers"] = {"simple": {"profiled_step_ms": 2.0, "unprofiled_step_ms": 1.89, "overhead": 0.058},
                      "advanced": {"profiled_step_ms": 3.0, "unprofiled_step_ms": 1.89, "overhead": 0.59},
                      "pytorch": {"profiled_step_ms": 2.5, "unprofiled_step_ms": 1.89, "overhead": 0.32}}
    b["top_functions"] = [{"function": "<built-in method torch.lstm>", "calls": 3, "own_s": 0.003, "folded_s": 0.0,
                           "tottime_s": 0.003, "cumtime_s": 0.003, "own_ms_per_step": 1.0}]
    b["top_functions_rule"] = "own time, Lightning's wrapper frames folded into their callers"
    b["operators"] = {"training": traced(training_trace(), "profiles/cpu/train.pt.trace.json"),
                      "predict_b1": traced(training_trace(), "profiles/cpu/predict-b1.pt.trace.json")}
    return record


def test_a_device_section_gives_overheads_functions_operators_and_predict_verdicts(training_trace):
    text = "\n".join(profile_lines(profiled_record(training_trace)))
    assert "SimpleProfiler +5.8%" in text and "AdvancedProfiler +59.0%" in text and "PyTorchProfiler +32.0%" in text
    assert "PyTorchProfiler on batch-1 predict +10.0%" in text
    assert "by own time, Lightning's wrapper frames folded" in text and "`<built-in method torch.lstm>`" in text
    assert "**optimizer-bound: 28% of each step" in text
    assert "| optimizer (step, zero_grad) | 0.028 | 28.0% |" in text
    assert "| 1 | `aten::addcdiv_` | optimizer | 1.0 | 0.020 | 20.0% |" in text
    assert "Operators, batch-1 predict (2 batches" in text
    assert "Device timeline" not in text  # a CPU trace has none


def test_a_gpu_trace_adds_device_columns_kernels_and_the_timeline(gpu_trace, training_trace):
    record = profiled_record(training_trace)
    record["breakdown"]["operators"] = {"training": traced(gpu_trace(), "profiles/gpu0/train.pt.trace.json")}
    text = "\n".join(profile_lines(record))
    assert "| part | host ms per step | host share | device ms per step | device share |" in text
    assert "Top kernels and copies by device time" in text
    assert ("Device timeline, training step: **host-bound: the device is idle 60% of each step, 40% waiting for the "
            "host") in text
    assert "2 kernels per step, median 15.0 µs" in text


def test_an_xla_record_gets_the_host_device_verdict(training_trace):
    record = profiled_record(training_trace)
    record["metrics"]["device_counters"] = {"execute_s": 0.2, "execute_count": 10, "compile_count": 0,
                                            "fallback_ops": {}}
    record["metrics"]["training"].update(measured_steps=10, measured_seconds=1.0)
    text = "\n".join(profile_lines(record))
    assert "- training: **host-bound: the host traces and transfers 80% of each step" in text


def test_the_run_report_links_the_pictures_and_says_how_to_open_the_traces(training_trace):
    record = profiled_record(training_trace)
    text = render_run_report(json.loads((DATA / "run_meta.json").read_text()), [record])
    for png in (BREAKDOWN_PNG, OPERATORS_PNG, STEP_TIMES_PNG):
        assert f"]({png})" in text
    assert "Perfetto" in text and "chrome://tracing" in text and "tensorboard --logdir" in text


def test_records_without_the_new_figures_still_render():
    old = json.loads((DATA / "cpu_result.json").read_text())
    lines = profile_lines(old)
    assert any("cumulative time" in line for line in lines)  # the old top-functions rule, as recorded
    assert profile_section([{"device": {}, "status": "unavailable", "metrics": {}}]) == []
    bare = copy.deepcopy(old)
    bare["breakdown"] = None
    assert profile_lines(bare) == []
