"""The open division's arithmetic: speedups with intervals, keep or drop, combining, payback and the gates."""

from __future__ import annotations

import pytest

from tweetbench.analysis import division

FIELDS = {"adam": ("adam",), "compile": ("compile",), "cuda-graphs": ("compile",), "loader": ("workers",)}


def blocks(step_s: float, rounds: int = 8, jitter: float = 0.01) -> list[list[float]]:
    return [[step_s * (1 + jitter * ((-1) ** i) * (i % 3))] for i in range(rounds)]


def test_speedup_is_closed_over_candidate_with_an_interval_over_rounds() -> None:
    figures = division.speedup(blocks(0.010), blocks(0.015))
    assert figures["speedup"] == pytest.approx(1.5, rel=0.03)
    low, high = figures["ci95"]
    assert low <= figures["speedup"] <= high
    assert figures["rounds"] == 8
    assert "8 interleaved rounds" in figures["ci_method"]


def test_no_round_gives_no_speedup_and_a_drop() -> None:
    figures = division.speedup([], blocks(0.01))
    assert figures["speedup"] is None
    assert division.decide(figures) == ("dropped", "no block completed")


@pytest.mark.parametrize(("ci", "decision", "word"), [([1.05, 1.4], "kept", "resolved faster"),
                                                      ([0.7, 0.95], "dropped", "slower"),
                                                      ([0.95, 1.3], "dropped", "not resolved faster"),
                                                      (None, "dropped", "not resolved")])
def test_a_knob_is_kept_only_when_its_whole_interval_is_above_one(ci, decision, word) -> None:
    got, why = division.decide({"speedup": 1.1, "ci95": ci})
    assert got == decision
    assert why.startswith(word)


def test_noisy_blocks_leave_a_small_gain_unresolved() -> None:
    closed = [[0.010], [0.016], [0.009], [0.017], [0.011], [0.015]]
    candidate = [[0.011], [0.012], [0.016], [0.010], [0.014], [0.011]]
    assert division.decide(division.speedup(candidate, closed))[0] == "dropped"


def test_combine_takes_the_fastest_of_alternatives_and_adds_the_rest() -> None:
    kept = [{"name": "adam=foreach", "knob": "adam", "speedup": 1.2},
            {"name": "adam=fused", "knob": "adam", "speedup": 1.35},
            {"name": "cuda-graphs=reduce-overhead", "knob": "cuda-graphs", "speedup": 1.5},
            {"name": "compile=inductor", "knob": "compile", "speedup": 1.3},
            {"name": "loader=prefetch", "knob": "loader", "speedup": 1.02}]
    assert division.combine(kept, FIELDS) == ["cuda-graphs=reduce-overhead", "adam=fused", "loader=prefetch"]


def test_payback_counts_the_steps_a_faster_step_needs_to_repay_its_compile() -> None:
    paid = division.payback(20.0, 0.040, 0.030)
    assert paid["payback_steps"] == 2000
    assert paid["step_saving_ms"] == pytest.approx(10.0)
    never = division.payback(20.0, 0.030, 0.031)
    assert never["payback_steps"] is None and "never paid back" in never["note"]
    assert division.payback(None, 0.04, 0.03)["note"] == "no knob of the open result compiles"


def test_parity_gate_matches_within_the_precision_tolerance_and_rejects_beyond() -> None:
    closed = [1.40, 1.38, 1.35]
    assert division.parity_gate(closed, [1.4000001, 1.3800002, 1.35], "32-true")["verdict"] == "match"
    broken = division.parity_gate(closed, [1.40, 1.39, 1.37], "32-true")
    assert broken["verdict"] == "diverged"
    assert "closed's" in broken["reason"] and "step 3" in broken["reason"]
    # bf16's tolerance is wider: the same difference passes there.
    assert division.parity_gate(closed, [1.40, 1.39, 1.37], "bf16-mixed")["verdict"] == "match"
    assert division.parity_gate(closed, [1.40, None, 1.35], "32-true")["verdict"] == "diverged"


@pytest.mark.parametrize(("closed", "opened", "ok"), [(3, 3, True), (3, 4, True), (3, 5, False), (3, None, False),
                                                      (None, 7, True), (2, 1, True)])
def test_convergence_gate_allows_one_epoch_more_than_closed(closed, opened, ok) -> None:
    gate = division.convergence_gate(closed, opened)
    assert gate["ok"] is ok
    assert bool(gate["reason"]) is (not ok or closed is None)
