"""The input check every statistic shares: a 1-D float array of finite values, and a confidence in (0, 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tweetbench.analysis.samples import as_samples, check_confidence


def test_samples_become_a_float_array() -> None:
    arr = as_samples([1, 2, 3])
    assert arr.dtype == np.float64 and arr.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(("values", "message"), [
    ([], "step_s is empty"),
    ([1.0, math.nan], "step_s contains NaN or infinite values"),
    ([1.0, math.inf], "step_s contains NaN or infinite values"),
    ([[1.0], [2.0]], "step_s must be one-dimensional, got shape (2, 1)"),
])
def test_empty_non_finite_or_nested_samples_are_refused_by_name(values: list, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        as_samples(values, "step_s")
    assert str(excinfo.value) == message


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 95])
def test_a_confidence_outside_the_open_unit_interval_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence must be in"):
        check_confidence(confidence)
    check_confidence(0.95)
