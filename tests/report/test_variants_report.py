"""variants.md's choice of records: the newest per variant, device and scenario (the page itself is rendered in
``tests/workload/test_variants.py``)."""

from __future__ import annotations

from tweetbench.report.variants import latest_variants, render_variants


def record(name: str, started: float, status: str = "ok", scenario: str | None = None, reason: str = "") -> dict:
    return {"device": {"name": "cpu"}, "workload": {"name": name}, "status": status, "reason": reason,
            "scenario": scenario, "timing": {"started_at": started}}


def test_the_newest_record_of_each_variant_device_and_scenario_is_kept() -> None:
    old, new = record("v1", 1.0), record("v1", 2.0)
    convergence = record("v1", 0.5, scenario="convergence")
    assert latest_variants([new, old, convergence]) == [new, convergence]


def test_failed_and_absent_devices_are_left_out_but_an_unsupported_precision_is_kept() -> None:
    unsupported = record("v1@16-mixed", 1.0, "unavailable", reason="unsupported on this device: needs a GPU")
    absent = record("v1", 1.0, "unavailable", reason="no CUDA GPU found")
    failed = record("v1-uni", 1.0, "failed", reason="crashed")
    assert latest_variants([unsupported, absent, failed]) == [unsupported]


def test_a_page_without_variants_says_how_to_make_some() -> None:
    assert "No variant has results yet" in render_variants([])
