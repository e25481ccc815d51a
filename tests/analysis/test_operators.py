"""The operator table: a synthetic Kineto trace with known intervals, grouped into parts of the model."""

import pytest

from tweetbench.analysis.operators import GROUPS, operator_breakdown, parameter_groups

EXPECTED_US = {"data": 5, "copies": 5, "embedding": 4, "lstm": 10, "loss": 8, "embedding_backward": 10,
               "lstm_backward": 16, "backward_other": 4, "optimizer": 28, "other": 10}


def test_groups_follow_the_annotations_and_shares_add_up_to_100(training_trace):
    result = operator_breakdown(training_trace())
    assert result["steps"] == 2  # the lead-in step is dropped
    assert result["mean_step_ms"] == pytest.approx(0.1)
    for group in GROUPS:
        assert result["groups"][group]["ms_per_step"] * 1e3 == pytest.approx(EXPECTED_US.get(group, 0.0)), group
    assert sum(row["share"] for row in result["groups"].values()) == pytest.approx(1.0)
    assert result["basis"] == "host"


def test_backward_takes_the_part_of_its_forward_by_sequence_number_even_from_the_lead_in_step(training_trace):
    result = operator_breakdown(training_trace(steps=2))  # the only analysed backward's forward is in the lead-in
    assert result["groups"]["embedding_backward"]["ms_per_step"] * 1e3 == pytest.approx(10)
    assert result["groups"]["lstm_backward"]["ms_per_step"] * 1e3 == pytest.approx(16)


def test_the_verdict_names_the_dominant_group_and_what_the_optimizer_spends_on(training_trace):
    parameters = parameter_groups([("BiLSTMClassifier", 0), ("Embedding", 2_560_000), ("LSTM", 264_192),
                                   ("Dropout", 0), ("Linear", 2_570)])
    result = operator_breakdown(training_trace(), parameters=parameters)
    assert result["bottleneck"] == "optimizer"
    assert result["verdict"] == ("optimizer-bound: 28% of each step; Adam's element-wise update is 25% of the step, "
                                 "and the embedding table holds 91% (2.56M) of the 2.83M parameters it updates")


def test_top_operators_are_by_self_time_per_step(training_trace):
    ops = operator_breakdown(training_trace())["top_operators"]
    assert ops[0]["name"] == "aten::addcdiv_" and ops[0]["group"] == "optimizer"
    assert ops[0]["self_ms_per_step"] == pytest.approx(0.020) and ops[0]["calls_per_step"] == 1
    selfs = [op["self_ms_per_step"] for op in ops]
    assert selfs == sorted(selfs, reverse=True)


def test_a_trace_without_steps_gives_nothing_and_a_foreign_file_is_refused():
    assert operator_breakdown({"traceEvents": []}) is None
    with pytest.raises(ValueError, match="traceEvents"):
        operator_breakdown({"events": []})


def test_kernels_count_towards_the_operator_that_launched_them(gpu_trace):
    result = operator_breakdown(gpu_trace())
    assert result["basis"] == "device"
    groups = result["groups"]
    assert groups["lstm"]["device_ms_per_step"] * 1e3 == pytest.approx(40)  # two kernels and the copy they launched
    assert sum(row["device_share"] for row in groups.values()) == pytest.approx(1.0)
    assert {k["name"] for k in result["top_kernels"]} == {"lstm_kernel", "Memcpy HtoD (Pageable -> Device)"}
    assert result["verdict"].startswith("LSTM-bound: 100% of the device's busy time")
