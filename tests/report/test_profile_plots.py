"""The run report's pictures of where the time goes: drawn from records alone, valid PNGs, reproducible."""

import json
from pathlib import Path

import matplotlib.image

from tweetbench.analysis.operators import operator_breakdown
from tweetbench.report.profile_plots import (
    BREAKDOWN_PNG,
    OPERATORS_PNG,
    STEP_TIMES_PNG,
    planned_plots,
    write_profile_plots,
)

DATA = Path(__file__).parent.parent / "data"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def records(training_trace):
    cpu = json.loads((DATA / "cpu_result.json").read_text())
    cpu["breakdown"]["operators"] = {"training": operator_breakdown(training_trace()),
                                     "predict_b1": operator_breakdown(training_trace())}
    gpu = json.loads((DATA / "gpu_unavailable.json").read_text())
    return [cpu, gpu]


def test_three_pngs_for_profiled_records_none_without_data(tmp_path, training_trace):
    paths = write_profile_plots(records(training_trace), tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [BREAKDOWN_PNG, OPERATORS_PNG, STEP_TIMES_PNG]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC
        height, width = matplotlib.image.imread(path).shape[:2]
        assert width >= 600 and height >= 200
    first = [p.read_bytes() for p in paths]
    assert [p.read_bytes() for p in write_profile_plots(records(training_trace), tmp_path)] == first
    assert planned_plots(records(training_trace)[1:]) == []


def test_a_run_without_the_pytorch_profiler_pass_draws_the_other_two(training_trace):
    plain = records(training_trace)[:1]
    del plain[0]["breakdown"]["operators"]
    assert planned_plots(plain) == [BREAKDOWN_PNG, STEP_TIMES_PNG]
