"""The overhead ratio's interval over interleaved rounds, and its three verdicts."""

from __future__ import annotations

import random

import pytest

from tweetbench.analysis.overhead import overhead_summary, pooled_ratio, ratio_interval, verdict


def _blocks(ratio: float, rounds: int, spread: float, seed: int) -> tuple[list[list[float]], list[list[float]]]:
    """Lightning blocks whose steps take ``1/ratio`` of the bare blocks' steps, with round-to-round drift."""
    rng = random.Random(seed)
    lightning, bare = [], []
    for _ in range(rounds):
        drift = 1 + rng.uniform(-spread, spread)
        bare.append([0.010 * drift * (1 + rng.uniform(-0.01, 0.01)) for _ in range(20)])
        lightning.append([0.010 * drift / ratio * (1 + rng.uniform(-0.01, 0.01)) for _ in range(20)])
    return lightning, bare


def test_the_pooled_ratio_is_median_bare_over_median_lightning() -> None:
    assert pooled_ratio([[2.0, 2.0], [2.0]], [[1.0], [1.0, 1.0]]) == pytest.approx(0.5)


def test_the_interval_holds_the_ratio_and_needs_three_rounds() -> None:
    lightning, bare = _blocks(0.97, rounds=12, spread=0.05, seed=1)
    low, high = ratio_interval(lightning, bare)
    assert low <= pooled_ratio(lightning, bare) <= high
    assert ratio_interval(lightning[:2], bare[:2]) is None


def test_three_verdicts() -> None:
    assert verdict((0.96, 0.99), 0.97, 0.95) == "meets"
    assert verdict((0.85, 0.90), 0.88, 0.95) == "misses"
    assert verdict((0.93, 0.97), 0.95, 0.95) == "unresolved at this noise"
    assert verdict(None, 1.2, 0.95) == "unresolved at this noise"


@pytest.mark.parametrize("ratio, expected", [(1.0, "meets"), (0.80, "misses")])
def test_clear_cases_are_resolved_from_the_rounds(ratio: float, expected: str) -> None:
    lightning, bare = _blocks(ratio, rounds=12, spread=0.02, seed=2)
    summary = overhead_summary(lightning, bare, 0.95)
    assert summary["verdict"] == expected and len(summary["ci95"]) == 2


def test_a_noisy_ratio_near_the_target_is_unresolved() -> None:
    lightning, bare = _blocks(0.95, rounds=4, spread=0.0, seed=3)
    for i, block in enumerate(lightning):  # rounds that disagree by 15% around the target
        lightning[i] = [s * (0.92 if i % 2 else 1.08) for s in block]
    assert overhead_summary(lightning, bare, 0.95)["verdict"] == "unresolved at this noise"
