"""Kineto traces: nesting, own time and the size budget of the saved file."""

import json

import pytest

from tweetbench.analysis.trace import Trace, overlap, union, within_budget


def test_spans_nest_per_thread_and_own_time_excludes_children(training_trace):
    t = Trace(training_trace())
    names = [s.name for s in t.host]
    backward = names.index("[pl][profile][Strategy]SingleDeviceStrategy.backward", 10)
    assert t.self_time(backward) == pytest.approx(4 * 2 / 2)  # per analysed step: 30 - 10 - 16, in one window
    assert t.window_ms == pytest.approx([0.1, 0.1])


def test_intervals():
    assert union([(5, 7), (0, 2), (1, 3)]) == [(0, 3), (5, 7)]
    assert overlap(1, 6, [(0, 2), (5, 7)]) == pytest.approx(2)


def test_a_large_trace_is_cut_to_its_first_whole_steps(training_trace):
    trace = training_trace(steps=5)
    whole = len(json.dumps(trace, separators=(",", ":")))
    kept, steps = within_budget(trace, whole + 100)
    assert steps == 4 and kept["traceEvents"] == trace["traceEvents"]
    kept, steps = within_budget(trace, whole * 3 // 5)
    assert 1 <= steps < 4
    assert len(json.dumps(kept, separators=(",", ":"))) <= whole * 3 // 5
    assert any(e.get("ph") == "M" for e in kept["traceEvents"])  # metadata is always kept
    names = [e["name"] for e in kept["traceEvents"] if e.get("ph") == "X"]
    assert "ProfilerStep#0" not in names and "ProfilerStep#1" in names  # the lead-in goes first
