"""An interleaved A/B run's analysis: trials in run order, and the paired comparison."""

import numpy as np
import pytest

from tweetbench.analysis.ab import abba_positions, compare_ab, side_label, trials_in_run_order
from tweetbench.analysis.gate import REGRESSION_EXIT, UNDECIDED_EXIT

ORDER = list("ABBAABBAABBA")


def side(step_ms, *, run_id="r", failed_at=None, noisy=True):
    """A minimal side record: one trial per ``step_ms`` (training, batch-1 and batch-256 medians alike)."""
    rng = np.random.default_rng(len(step_ms))
    raw = [s / 1e3 * x for s in step_ms for x in rng.lognormal(0, 0.01, 20)]
    per_trial = [{"trial": k, "status": "failed" if k == failed_at else "ok", "step_p50_ms": s,
                  "latency_batch1_p50_ms": s / 10, "offline_batch_p50_ms": s * 5} for k, s in enumerate(step_ms, 1)]
    return {"device": {"name": "cpu"}, "status": "ok", "reason": "", "run_id": run_id, "noisy": noisy,
            "workload": {"name": "w", "fingerprint": "f"}, "trials": {"per_trial": per_trial},
            "metrics": {"training": {"raw_step_s": raw, "batch_size": 32},
                        "inference": {"raw_latency_s": [r / 10 for r in raw],
                                      "offline": {"raw_batch_s": [r * 5 for r in raw], "batch_size": 256}}}}


def section(order=ORDER, a="--threads 2", b="--threads 1"):
    return {"device": "cpu", "order": order, "sides": {"A": {"dir": "a", "options": a}, "B": {"dir": "b", "options": b}}}


def test_positions_number_each_sides_trials_in_run_order():
    assert abba_positions(list("ABBAAB")) == [("A", 1), ("B", 1), ("B", 2), ("A", 2), ("A", 3), ("B", 3)]


def test_trials_in_run_order_carry_their_figures_and_say_which_did_not_run():
    a, b = side([10.0, 11.0, 12.0]), side([20.0, 21.0])
    order = trials_in_run_order(list("ABBAAB"), {"A": a, "B": b})
    assert [(t.position, t.side, t.trial, t.status) for t in order] == [
        (1, "A", 1, "ok"), (2, "B", 1, "ok"), (3, "B", 2, "ok"), (4, "A", 2, "ok"), (5, "A", 3, "ok"),
        (6, "B", 3, "not run")]
    assert order[0].figures["train"] == pytest.approx(32 / 0.010)  # samples/s = batch / median step
    assert order[1].figures["latency"] == pytest.approx(2.0) and order[3].figures["offline"] == pytest.approx(
        256 / 0.055)
    assert order[5].figures == {"train": None, "latency": None, "offline": None}
    assert all(t.status == "not run" for t in trials_in_run_order(list("AB"), {"A": None, "B": None}))


def test_a_drifting_interleaved_run_finds_b_slower_pair_by_pair():
    drift = np.linspace(1.0, 1.6, 6)  # the machine slows by 60% over the run, on both sides alike
    wobble = np.array([1.0, 1.01, 0.99, 1.0, 1.02, 0.98])
    a, b = side(list(10.0 * drift)), side(list(11.0 * drift * wobble))
    ab = compare_ab(section(), {"A": a, "B": b}, bound=0.05)
    result = ab.comparison
    assert ab.problem == "" and result is not None and result.design == "paired" and not result.sequential
    train = result.rows[0]
    assert train.verdict == "slower" and train.trials.design == "paired" and train.trial_counts == (6, 6)
    assert train.ratio == pytest.approx(1 / 1.1, rel=0.01) and train.trials.high < 1.0
    assert train.regression and ab.exit_code == REGRESSION_EXIT
    assert result.a == side_label("A", "--threads 2") == "A (--threads 2)"


def test_the_same_run_unpaired_would_drown_the_change_in_the_drift():
    from tweetbench.analysis.compare import Side, compare_records

    drift = np.linspace(1.0, 1.6, 6)
    a, b = side(list(10.0 * drift)), side(list(11.0 * drift))
    row = compare_records(Side("A", (a,), True), Side("B", (b,), True)).rows[0]
    assert row.verdict != "slower"  # the independent design sees the drift as spread


def test_too_few_pairs_cannot_show_and_the_gate_says_so():
    ab = compare_ab(section(list("ABBAAB")), {"A": side([10.0, 10.1, 9.9]), "B": side([12.0, 12.1, 11.9])},
                    bound=0.05)
    assert {row.verdict for row in ab.comparison.rows} == {"cannot show"}
    assert "3 interleaved pairs can't show a difference at 5%" in ab.comparison.rows[0].note
    assert ab.exit_code == UNDECIDED_EXIT


def test_only_complete_pairs_are_compared():
    ab = compare_ab(section(), {"A": side([10.0] * 7), "B": side([12.0] * 6)})
    assert ab.comparison.rows[0].trial_counts == (6, 6)


def test_a_side_without_a_result_or_a_failed_side_is_not_compared():
    missing = compare_ab(section(), {"A": side([10.0]), "B": None})
    assert missing.comparison is None and "no result" in missing.problem and missing.exit_code == 1
    failed = dict(side([10.0, 11.0]), status="failed", reason="trial 2 of 6: worker died")
    broken = compare_ab(section(), {"A": side([10.0, 11.0]), "B": failed})
    assert broken.comparison is None and "B is failed" in broken.problem and broken.exit_code == 1


def test_an_empty_side_string_is_named_for_what_it_is():
    assert side_label("B", "  ") == "B (the common options)"


def test_only_the_primary_metric_is_gated_and_the_others_get_holm_adjusted_p():
    drift = np.linspace(1.0, 1.6, 8)  # 8 pairs: at 6, Holm's doubling of p = 0.031 would already miss 0.05
    wobble = np.array([1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.01, 0.99])
    a, b = side(list(10.0 * drift)), side(list(11.0 * drift * wobble))
    for k, entry in enumerate(b["trials"]["per_trial"]):  # training unchanged, batch-1 latency 10% slower
        entry["step_p50_ms"] = a["trials"]["per_trial"][k]["step_p50_ms"] * (1.0 + 0.002 * (-1) ** k)
    ab = compare_ab(section(list("ABBA" * 4)), {"A": a, "B": b}, bound=0.05)
    rows = {row.metric.key: row for row in ab.comparison.rows}
    assert ab.comparison.primary == "train" and not rows["train"].secondary and rows["train"].gate == "pass"
    assert rows["latency"].secondary and rows["latency"].gate == "" and rows["latency"].verdict == "slower"
    assert rows["latency"].p_adjusted == pytest.approx(2 * rows["latency"].trials.p_value)  # Holm, 2 secondaries
    assert ab.exit_code == 0  # the secondary's slowdown is reported, never gated
    gated_latency = compare_ab(dict(section(list("ABBA" * 4)), metric="latency"), {"A": a, "B": b}, bound=0.05)
    assert gated_latency.comparison.primary == "latency" and gated_latency.exit_code == REGRESSION_EXIT


def test_pairs_that_spread_beyond_the_threshold_make_a_noise_note():
    a = side([10.0] * 6)
    b = side(list(10.0 * np.array([1.0, 1.2, 0.85, 1.15, 0.9, 1.1])))
    notes = compare_ab(section(), {"A": a, "B": b}).comparison.notes
    assert any("training throughput: noisy: the pair log ratios spread" in n for n in notes)
    quiet = compare_ab(section(), {"A": a, "B": side(list(10.0 * np.array([1.0, 1.01, 0.99, 1.0, 1.02, 0.98])))})
    assert not any("noisy: the pair log ratios" in n for n in quiet.comparison.notes)
