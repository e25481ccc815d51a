"""The PyTorchProfiler pass on --workload tiny, on the CPU: trace files, operator shares, trace fields."""

import json

import pytest

from tweetbench.analysis.operators import GROUPS
from tweetbench.config import DataSource, get_workload
from tweetbench.devices import create_backend, parse_device
from tweetbench.harness.tracing import TRAIN_TRACE, TraceConfig, predict_trace_name, run_traces
from tweetbench.workload.dataset import load_data
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    workload = get_workload("tiny")
    data = load_data(workload, DataSource())
    backend = create_backend(parse_device("cpu"))
    backend.setup()
    module = TweetClassifier(build_model(workload, data.num_classes), workload.lr)
    out = tmp_path_factory.mktemp("profiles")
    result = run_traces(module, backend, data.train, data.val, out, batch_size=workload.batch_size,
                        predict_batch_sizes=(1, 64), seed=workload.seed, precision="32-true",
                        config=TraceConfig(steps=2))
    return out, result


def test_each_pass_writes_a_trace_of_its_steps(traced):
    out, result = traced
    assert sorted(p.name for p in out.iterdir()) == sorted([TRAIN_TRACE, predict_trace_name(1), predict_trace_name(64)])
    assert result.training.path == out / TRAIN_TRACE and result.training.bytes == (out / TRAIN_TRACE).stat().st_size
    assert result.training.steps_in_file == 2 and set(result.predict) == {1, 64}
    assert not list(out.glob(".*.tmp"))  # written atomically, nothing left behind


def test_trace_files_are_chrome_traces_with_the_fields_every_viewer_reads(traced):
    out, _ = traced
    for path in out.glob("*.pt.trace.json"):
        trace = json.loads(path.read_text(encoding="utf-8"))
        complete = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
        assert complete, path
        for event in complete:
            assert {"ph", "ts", "dur", "name"} <= event.keys(), event
            assert isinstance(event["ts"], int | float) and isinstance(event["dur"], int | float)
        assert sum(e["name"].startswith("ProfilerStep#") for e in complete) == 3  # lead-in and 2 analysed


def test_operator_shares_add_up_to_100_and_name_the_models_parts(traced):
    _, result = traced
    for traced_pass in (result.training, *result.predict.values()):
        groups = traced_pass.operators["groups"]
        assert set(groups) == set(GROUPS)
        assert sum(row["share"] for row in groups.values()) == pytest.approx(1.0)
        assert groups["lstm"]["ms_per_step"] > 0 and groups["embedding"]["ms_per_step"] > 0
        assert traced_pass.timeline is None  # no device activity on the CPU
    training = result.training.operators["groups"]
    assert training["optimizer"]["ms_per_step"] > 0 and training["lstm_backward"]["ms_per_step"] > 0
    assert result.predict[1].operators["groups"]["optimizer"]["ms_per_step"] == 0
