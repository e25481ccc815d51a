"""The cold-start timeline: marks in the order given, from the process's start, the first mark of a name kept."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest

from tweetbench.harness import coldstart


@pytest.fixture(autouse=True)
def no_marks() -> Iterator[None]:
    coldstart.clear()
    yield
    coldstart.clear()


def test_phases_follow_the_order_skip_what_was_not_reached_and_time_each_from_the_last() -> None:
    coldstart.mark("imports", at=110.0)
    coldstart.mark("data_loaded", at=112.5)
    coldstart.mark("first_response", at=120.0)
    coldstart.mark("imports", at=200.0)  # a second mark of a name does not move the first
    found = coldstart.timeline(("imports", "data_loaded", "model_built", "first_response"), start=100.0)
    assert [p["phase"] for p in found["phases"]] == ["imports", "data_loaded", "first_response"]
    assert [(p["at_s"], p["took_s"]) for p in found["phases"]] == [(10.0, 10.0), (12.5, 2.5), (20.0, 7.5)]
    assert found["total_s"] == 20.0


def test_by_default_the_timeline_starts_at_the_process_creation() -> None:
    coldstart.mark("imports")
    found = coldstart.timeline(("imports",))
    expected = time.time() - psutil.Process().create_time()
    assert 0.0 <= found["phases"][0]["at_s"] <= expected + 1.0
    assert coldstart.timeline(("never",)) == {"phases": [], "total_s": 0.0}
