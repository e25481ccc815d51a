"""The trial-level test: exact permutation p-values on hand-made samples, and the verdicts it gives."""

import math

import numpy as np
import pytest
from scipy import stats

from tweetbench.analysis.replication import (
    EXACT_LIMIT,
    compare_trials,
    permutation_p,
    smallest_p,
    trials_needed,
)

# --------------------------------------------------------------------------- exact p-values, by hand


def test_three_against_three_fully_separated_gives_the_smallest_p_of_one_tenth():
    # C(6, 3) = 20 splits; only the observed one and its mirror are as extreme: 2/20.
    assert permutation_p(np.log([1, 2, 3]), np.log([4, 5, 6])) == pytest.approx(0.1)
    assert smallest_p(3, 3) == pytest.approx(0.1)


def test_three_against_three_with_one_overlap_by_hand():
    # The statistic grows with the product of B's values (the total, 720, is fixed). Observed B = {3, 5, 6},
    # product 90; the 3-subsets with a product >= 90 are {4, 5, 6} (120) and {3, 5, 6} (90): 2 of 20 on
    # this side, so the two-sided p is 2 x 2/20 = 0.2.
    assert permutation_p(np.log([1, 2, 4]), np.log([3, 5, 6])) == pytest.approx(0.2)


def test_four_against_four_can_go_below_five_percent():
    assert permutation_p(np.log([1, 2, 3, 4]), np.log([5, 6, 7, 8])) == pytest.approx(2 / 70)
    assert smallest_p(4, 4) == pytest.approx(2 / 70) and smallest_p(4, 4) < 0.05
    assert trials_needed() == 4


def test_two_against_five_by_hand():
    # C(7, 2) = 21 splits of {1..7} into A (2) and B (5); with A = {1, 2} the mean log difference is the
    # largest of all (B holds every large value): 1/21 on that side, 2/21 two-sided.
    assert permutation_p(np.log([1, 2]), np.log([3, 4, 5, 6, 7])) == pytest.approx(2 / 21)


def test_paired_sign_flips_by_hand():
    # Six pairs, log ratios d; the 64 sign patterns give sums; as large as the observed 1.45:
    # all positive (1.55) and the observed (1.45) -> 2/64 on that side, 4/64 two-sided.
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, -0.05])
    assert permutation_p(np.zeros(6), d, "paired") == pytest.approx(4 / 64)
    assert permutation_p(np.zeros(6), np.abs(d), "paired") == pytest.approx(2 / 64)
    assert smallest_p(5, 5, "paired") == pytest.approx(2 / 32) and smallest_p(5, 5, "paired") > 0.05
    assert trials_needed(design="paired") == 6


def test_a_p_value_does_not_depend_on_the_unit():
    a, b = np.array([10.0, 11.0, 9.5, 10.2]), np.array([11.0, 12.5, 10.9, 11.4])
    assert permutation_p(np.log(a), np.log(b)) == permutation_p(np.log(a * 1e3), np.log(b * 1e3))


def test_beyond_the_exact_limit_a_seeded_monte_carlo_stands_in():
    assert math.comb(20, 10) > EXACT_LIMIT
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 0.05, 10), rng.normal(0.03, 0.05, 10)
    p = permutation_p(a, b, seed=3)
    assert p == permutation_p(a, b, seed=3)  # deterministic
    assert p == pytest.approx(stats.ttest_ind(a, b).pvalue, abs=0.05)  # and close to the t-test at this n


def test_a_paired_test_needs_pairs():
    with pytest.raises(ValueError, match="as many A as B"):
        permutation_p([0.0, 0.1], [0.2], "paired")


# --------------------------------------------------------------------------- verdicts


def test_the_ratio_and_its_welch_interval_are_those_of_the_log_figures():
    a, b = [100.0, 104.0, 98.0, 101.0, 99.5], [90.0, 92.0, 89.0, 91.5, 90.5]
    t = compare_trials(a, b, higher_is_better=True)
    la, lb = np.log(a), np.log(b)
    diff = lb.mean() - la.mean()
    va, vb = la.var(ddof=1) / 5, lb.var(ddof=1) / 5
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)  # Welch-Satterthwaite
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert t.ratio == pytest.approx(math.exp(diff))
    assert (t.low, t.high) == pytest.approx((math.exp(diff - half), math.exp(diff + half)))
    assert t.verdict == "slower" and t.p_value == pytest.approx(2 / 252) and t.reason == ""
    assert compare_trials(a, b, higher_is_better=False).verdict == "faster"  # b is lower: a shorter time


def test_three_against_three_cannot_show_a_difference_and_says_how_many_trials_can():
    t = compare_trials([100.0, 101.0, 99.0], [80.0, 81.0, 79.0], higher_is_better=True)
    assert t.verdict == "cannot show" and t.p_value is None and not t.decided
    assert t.reason == ("3 vs 3 trials can't show a difference at 5% (the smallest p they can give is 0.1); "
                        "use --repeats 4 or more")
    assert t.ratio == pytest.approx(0.8, rel=0.01) and t.high < 1.0  # the interval is still given


def test_a_single_trial_side_cannot_show_a_difference():
    t = compare_trials([100.0], [50.0, 51.0, 52.0, 49.0, 50.5], higher_is_better=True)
    assert t.verdict == "cannot show" and (t.low, t.high) == (None, None)
    assert t.reason.startswith("A has a single trial") and "--repeats 4 or more" in t.reason


def test_interleaved_pairs_cannot_show_a_difference_below_six():
    t = compare_trials([100.0] * 5, [80.0, 81.0, 79.0, 80.5, 79.5], higher_is_better=True, design="paired")
    assert t.verdict == "cannot show" and t.reason.startswith("5 interleaved pairs can't show a difference at 5%")
    assert "use --repeats 6 or more" in t.reason


def test_a_significant_change_is_slower_however_wide_a_sides_spread():
    # Changed on purpose (issue 22): a significant change smaller than a noisy side's spread used to be
    # "unresolved"; the p-value and the interval already account for the spread, so the verdict stands.
    a, b = [100.0, 101.0, 99.0, 100.5, 99.5], [94.0, 93.0, 92.0, 91.0, 81.0]
    t = compare_trials(a, b, higher_is_better=True)
    assert t.verdict == "slower" and t.p_value < 0.05 and t.decided
    assert t.sd_log == pytest.approx(float(np.sqrt((np.var(np.log(a), ddof=1) + np.var(np.log(b), ddof=1)) / 2)))
    assert t.detectable.startswith("at this spread (sd ") and "5 trials a side can show a change of" in t.detectable


def test_no_difference_and_a_change_below_one_percent_are_not_significant():
    a = [100.0, 101.0, 99.0, 100.5, 99.5]
    assert compare_trials(a, a[::-1], higher_is_better=True).verdict == "no significant difference"
    shifted = [x * 1.005 for x in [100.0, 100.1, 99.9, 100.05, 99.95]]
    tiny = compare_trials([100.0, 100.1, 99.9, 100.05, 99.95][::-1], shifted, higher_is_better=True)
    assert tiny.p_value < 0.05 and tiny.low > 1.0  # clear, but only 0.5%
    assert tiny.verdict == "no significant difference"


def test_paired_spread_leaves_out_the_drift_both_sides_share():
    drift = np.array([1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6])  # 60% of drift over the run
    a, b = 100.0 * drift, 90.0 * drift * np.array([1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0])
    paired = compare_trials(a, b, higher_is_better=True, design="paired")
    assert paired.verdict == "slower" and paired.sd_log < 0.03
    assert compare_trials(a, b, higher_is_better=True).verdict != "slower"  # unpaired, drift is spread


@pytest.mark.parametrize(("a", "b"), [([], [1.0]), ([1.0, 0.0], [1.0, 2.0]), ([1.0, -2.0], [1.0, 2.0])])
def test_figures_must_be_positive(a, b):
    with pytest.raises(ValueError):
        compare_trials(a, b, higher_is_better=True)


@pytest.mark.parametrize(("n_a", "n_b", "design"), [(3, 3, "independent"), (5, 5, "independent"),
                                                    (8, 8, "independent"), (4, 7, "independent"),
                                                    (6, 6, "paired"), (8, 8, "paired"), (12, 12, "paired")])
def test_the_enumerated_exact_p_is_scipys_permutation_test(n_a, n_b, design):
    rng = np.random.default_rng(n_a * 100 + n_b)
    for shift in (0.0, 0.3, 1.5):
        a, b = rng.normal(size=n_a), rng.normal(size=n_b) + shift
        reference = stats.permutation_test(
            (a, b), lambda x, y, axis=-1: np.mean(y, axis=axis) - np.mean(x, axis=axis),
            permutation_type="samples" if design == "paired" else "independent", vectorized=True,
            n_resamples=np.inf, alternative="two-sided").pvalue
        assert permutation_p(a, b, design) == pytest.approx(min(1.0, reference), abs=1e-12)
