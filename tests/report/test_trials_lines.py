"""The trials pieces of a report, from hand-made sections: intervals, the side-by-side cell, noise flags and the
smallest detectable change (``test_trials_report`` renders whole aggregated records)."""

from __future__ import annotations

from tweetbench.report.trials import detectable_lines, interval_text, noise_flags, samples_cell, trials_lines

HEADLINE = {"estimate": 1234.4, "low": 1200.0, "high": 1260.4, "unit": "samples/s", "coverage": 0.75,
            "method": "order statistics"}


def test_an_interval_has_the_digits_of_its_unit_and_a_single_trial_none() -> None:
    assert interval_text(HEADLINE) == "[1,200, 1,260]"
    assert interval_text({**HEADLINE, "unit": "ms", "low": 1.23456, "high": 2.0}) == "[1.235, 2.000]"
    assert interval_text({**HEADLINE, "low": None}) == "–"


def test_the_side_by_side_cell_exists_only_with_an_interval() -> None:
    assert samples_cell({"trials": {"headline": {"train_samples_per_s": HEADLINE}}}) == "1,234 [1,200, 1,260]"
    assert samples_cell({"trials": {"headline": {"train_samples_per_s": {**HEADLINE, "low": None}}}}) is None
    assert samples_cell({}) is None


def test_only_noisy_results_are_flagged_with_their_reasons() -> None:
    flags = noise_flags([{"device": {"name": "cpu"}, "noisy": True, "noise_reasons": ["CV 12% > 5%"]},
                         {"device": {"name": "gpu"}, "noisy": False}])
    assert len(flags) == 1 and flags[0].startswith("> **Noisy: cpu** — CV 12% > 5%.")


def test_the_smallest_detectable_change_needs_several_trials() -> None:
    one = {"count": 1, "noise": {"within_trial": [0.01]}}
    assert "not measured: one trial shows no spread" in detectable_lines({"trials": one})[0]
    several = {"count": 3, "noise": {"between_trials": 0.02, "detectable": "±4.1%"}}
    assert detectable_lines({"trials": several})[0].startswith("Smallest detectable change: ±4.1%,")
    assert detectable_lines({"trials": {"count": 3, "noise": {"between_trials": None}}}) == []


def test_a_record_without_trials_has_no_trials_part() -> None:
    assert trials_lines({"metrics": {}}) == []
