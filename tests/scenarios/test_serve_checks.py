"""The serve scenario's checks, from what LoadGen logged: the served answers against the model's own, the
TEST01-like audit of the performance runs, and no compile inside a measured run."""

from __future__ import annotations

from typing import Any

import pytest

from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.scenarios.serve_checks import SHOWN, accuracy_check, audit_check, check_compiles

OWN = [0, 1, 2, 1]
LABELS = [0, 1, 1, 1]  # the model is right on 3 of 4


def _figures(logged: dict[int, int]) -> dict[str, Any]:
    return {"accuracy_log": logged, "samples_per_s": 100.0}


def test_served_answers_equal_to_the_models_own_pass() -> None:
    figures = _figures(dict(enumerate(OWN)))
    check = accuracy_check(figures, OWN, LABELS)
    assert check["problem"] == "" and check["matches_model"] is True
    assert (check["samples"], check["logged"], check["differing"]) == (4, 4, 0)
    assert check["accuracy"] == check["model_accuracy"] == 0.75
    assert check["predictions"] == OWN
    assert check["run"] == {"samples_per_s": 100.0} and "accuracy_log" not in figures  # the log is not kept twice


def test_a_sample_logged_by_no_one_fails_the_check_and_counts_as_wrong() -> None:
    check = accuracy_check(_figures({0: 0, 2: 2}), OWN, LABELS)
    assert check["problem"] == "AccuracyOnly logged 2 of 4 validation samples (missing e.g. [1, 3])"
    assert check["matches_model"] is False and check["predictions"] == [0, -1, 2, -1]
    assert check["accuracy"] == 0.25 and check["model_accuracy"] == 0.75


def test_a_served_answer_that_differs_fails_the_check_naming_a_few() -> None:
    own = [0] * (SHOWN + 3)
    check = accuracy_check(_figures({i: 1 for i in range(len(own))}), own, [0] * len(own))
    assert check["matches_model"] is False and check["differing"] == len(own)
    assert check["problem"] == (f"served predictions differ from the model's own on {len(own)} of {len(own)} samples "
                                f"(e.g. {list(range(SHOWN))})")
    assert (check["accuracy"], check["model_accuracy"]) == (0.0, 1.0)


def test_without_labels_there_is_no_accuracy_but_still_the_comparison() -> None:
    check = accuracy_check(_figures({0: 1}), [1], [])
    assert (check["accuracy"], check["model_accuracy"], check["matches_model"]) == (None, None, True)


@pytest.mark.parametrize(("audited", "passed", "differing"), [
    ({0: 0, 2: 2, 3: 1}, True, 0),
    ({0: 0, 1: -1}, True, 0),  # a failed request (class -1) is its SUT's error count, no answer to audit
    ({}, False, 0),  # nothing audited: nothing shown to be the same
    ({0: 0, 1: 2, 3: 0}, False, 2),
])
def test_the_audit_compares_performance_answers_with_the_accuracy_runs(audited: dict[int, int], passed: bool,
                                                                      differing: int) -> None:
    check = audit_check(audited, OWN)
    assert (check["checked"], check["passed"], check["differing"]) == (len(audited), passed, differing)
    assert bool(check["problem"]) == (differing > 0)
    if differing:
        assert check["problem"] == (f"2 of 3 responses logged in the performance runs differ from the accuracy run's "
                                    "(TEST01-like check; e.g. samples [1, 3])")


def test_a_compile_in_a_measured_run_is_a_problem_only_where_the_device_compiles() -> None:
    window = {"compile_count": 2, "compile_s": 1.5}
    assert check_compiles(create_backend(DeviceSpec("cpu")), window, "Server") == ""
    assert check_compiles(create_backend(DeviceSpec("xla-cpu")), window, "Server") == (
        "2 XLA compilations during the measured steps (1.5 s) of the Server LoadGen run")
    assert check_compiles(create_backend(DeviceSpec("xla-cpu")), {"compile_count": 0}, "Server") == ""
