"""The parity section: each device's parity losses against the reference device's (the CPU), from records alone."""

from __future__ import annotations

from tweetbench.records import REFERENCE_KIND
from tweetbench.report.parity import SHOWN_STEPS, diverged, parity_flags, parity_section, parity_table

CPU_LOSSES = [1.4215, 1.4031, 1.4134]


def record(name: str, kind: str, losses: list[float | None] | None, precision: str = "32-true") -> dict:
    metrics = {} if losses is None else {"parity": {"losses": losses, "steps": len(losses), "dropout": 0.0}}
    return {"device": {"name": name, "kind": kind, "label": f"{name.upper()} (x)"},
            "workload": {"config": {"precision": precision}}, "metrics": metrics}


def test_a_device_within_the_tolerance_matches_and_one_beyond_it_is_flagged() -> None:
    cpu = record("cpu", REFERENCE_KIND, CPU_LOSSES)
    close = record("gpu", "gpu", [1.42150012, 1.4031, 1.4134])
    far = record("tpu", "tpu", [1.4215, 1.4031, 1.4500])
    results = [cpu, close, far]
    assert list(diverged(results)) == ["tpu"]
    table = parity_table(results)
    assert "| CPU (x) | 1.42150, 1.40310, 1.41340 | – | 1e-03 | reference |" in table
    assert "| GPU (x) |" in table and "| match |" in table
    assert "| TPU (x) |" in table and "3.66e-02 (step 3)" in table and "**DIVERGED**" in table
    [flag] = parity_flags(results)
    assert flag.startswith("> **TPU (x) diverged from the CPU**: loss differs from the CPU's by 3.66e-02 at step 3")


def test_without_a_cpu_parity_pass_nothing_is_compared_and_nothing_is_flagged() -> None:
    results = [record("cpu", REFERENCE_KIND, None), record("gpu", "gpu", CPU_LOSSES)]
    assert diverged(results) == {}
    assert "not compared (no CPU parity pass in this run)" in parity_table(results)
    assert "| CPU (x) |" not in parity_table(results)  # a device without a parity pass has no row


def test_long_loss_lists_are_cut_and_a_nan_loss_is_named() -> None:
    losses = [1.0 + i / 100 for i in range(SHOWN_STEPS + 3)]
    nan = record("gpu", "gpu", [None, *losses[1:]])
    table = parity_table([record("cpu", REFERENCE_KIND, losses), nan])
    assert f", … ({SHOWN_STEPS + 3} steps)" in table
    assert "| GPU (x) | NaN/Inf, 1.01000" in table


def test_the_section_appears_only_when_a_result_has_a_parity_pass() -> None:
    assert parity_section([record("cpu", REFERENCE_KIND, None)]) == []
    section = parity_section([record("cpu", REFERENCE_KIND, CPU_LOSSES), record("gpu", "gpu", CPU_LOSSES)])
    assert section[0] == "## Parity with the CPU"
    assert "first 3 batches" in section[2] and "32-true 1e-03" in section[2]
