"""The Server QPS search on stub devices whose capacity is known."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tweetbench.analysis.qps_search import SearchConfig, SearchResult, best_point, search_max_qps


def capacity(limit: float):
    return lambda qps: {"valid": qps <= limit}


@settings(max_examples=60, deadline=None)
@given(limit=st.floats(5, 50_000), first=st.floats(5, 50_000), tolerance=st.sampled_from([0.02, 0.05, 0.15]))
def test_the_search_finds_a_known_capacity_within_its_tolerance(limit: float, first: float, tolerance: float) -> None:
    result = search_max_qps(capacity(limit), SearchConfig(first, tolerance, max_runs=40))
    assert result.converged
    assert result.max_valid_qps is not None and result.min_invalid_qps is not None
    assert result.max_valid_qps <= limit < result.min_invalid_qps
    assert (limit - result.max_valid_qps) <= tolerance * result.max_valid_qps


def test_every_point_is_kept_in_the_order_tried() -> None:
    result = search_max_qps(capacity(1000), SearchConfig(600, 0.05, max_runs=20))
    targets = [p["target_qps"] for p in result.points]
    assert targets[:3] == [600, 1200, 900]
    assert [p["order"] for p in result.points] == list(range(len(targets)))
    assert result.to_dict()["max_valid_qps"] == max(t for t in targets if t <= 1000)


def test_a_search_out_of_runs_says_it_did_not_converge() -> None:
    result = search_max_qps(capacity(1000), SearchConfig(100, 0.01, max_runs=3))
    assert not result.converged and len(result.points) == 3 and result.max_valid_qps == 400


def test_nothing_valid_gives_no_maximum_and_stops_at_the_floor() -> None:
    result = search_max_qps(lambda qps: {"valid": False}, SearchConfig(64, 0.05, max_runs=50, min_qps=1))
    assert result.max_valid_qps is None and not result.converged
    assert min(p["target_qps"] for p in result.points) >= 1 and len(result.points) == 7


def test_a_noisy_valid_point_above_the_bracket_widens_it_again() -> None:
    verdicts = iter([True, False, True, True, False, True])
    result = search_max_qps(lambda qps: {"valid": next(verdicts)}, SearchConfig(100, 0.05, max_runs=6))
    assert result.max_valid_qps == max(p["target_qps"] for p in result.points if p["valid"])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        SearchConfig(0)


def test_the_best_point_is_the_highest_valid_one_tried_or_none() -> None:
    points = [{"target_qps": 100.0, "valid": True}, {"target_qps": 200.0, "valid": False},
              {"target_qps": 150.0, "valid": True}, {"target_qps": 140.0, "valid": False}]
    assert best_point(points) == {"target_qps": 150.0, "valid": True}
    assert best_point([p for p in points if not p["valid"]]) is None
    assert SearchResult(points=points).best is points[2]
