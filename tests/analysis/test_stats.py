"""Tests for the statistics of tweetbench.analysis (summary, intervals, ratios, steady, power, noise) on synthetic data with known properties (fixed seeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tweetbench.analysis.intervals import Interval, batch_median_interval, bootstrap_ci, median_with_ci
from tweetbench.analysis.noise import NOISY_BETWEEN, NOISY_MAD, noise_verdict, robust_spread
from tweetbench.analysis.power import detectable_change, detectable_text, holm, units_needed
from tweetbench.analysis.ratios import Comparison, compare_samples, paired_log_ratio, regression_exceeds
from tweetbench.analysis.steady import SteadyStateDetector, steady_start
from tweetbench.analysis.summary import Summary

step_times = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)


def _lognormal_sets(n_sets: int, size: int, seed: int) -> np.ndarray:
    """Rows of lognormal(0, 0.5) samples; the true median is exp(0) = 1."""
    return np.random.default_rng(seed).lognormal(mean=0.0, sigma=0.5, size=(n_sets, size))


def _coverage(intervals: list[tuple[float, float]], truth: float) -> float:
    return float(np.mean([low <= truth <= high for low, high in intervals]))


# --------------------------------------------------------------------------- Summary


def test_summary_known_values() -> None:
    s = Summary.from_samples([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s.count == 5
    assert s.mean == 3.0
    assert s.stdev == pytest.approx(math.sqrt(2.5))  # ddof=1
    assert s.cv == pytest.approx(math.sqrt(2.5) / 3.0)
    assert (s.min, s.max) == (1.0, 5.0)
    assert s.p50 == 3.0
    assert s.p90 == pytest.approx(4.6)  # linear: 1 + 0.9 * 4
    assert s.p99 == pytest.approx(4.96)


def test_summary_single_value_and_zero_mean() -> None:
    one = Summary.from_samples([0.25])
    assert (one.stdev, one.cv, one.p50, one.p99) == (0.0, 0.0, 0.25, 0.25)
    assert Summary.from_samples([-1.0, 1.0]).cv == 0.0


def test_summary_to_dict_round_trips() -> None:
    s = Summary.from_samples(np.arange(1.0, 101.0))
    d = s.to_dict()
    assert list(d) == ["count", "mean", "stdev", "cv", "min", "max", "p50", "p90", "p99"]
    assert type(d["count"]) is int and all(type(v) is float for k, v in d.items() if k != "count")
    assert Summary(**d) == s


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")], [[1.0, 2.0]]])
def test_summary_rejects_bad_input(bad: list) -> None:
    with pytest.raises(ValueError):
        Summary.from_samples(bad)


def test_summary_validates_on_construction() -> None:
    with pytest.raises(ValueError):
        Summary(count=0, mean=1, stdev=0, cv=0, min=1, max=1, p50=1, p90=1, p99=1)
    with pytest.raises(ValueError):
        Summary(count=2, mean=1, stdev=0, cv=0, min=1, max=1, p50=2, p90=1, p99=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(step_times, min_size=1, max_size=50))
def test_summary_invariants(values: list[float]) -> None:
    s = Summary.from_samples(values)
    assert s.count == len(values)
    assert s.min <= s.p50 <= s.p90 <= s.p99 <= s.max
    assert s.stdev >= 0.0


# --------------------------------------------------------------------------- intervals


def test_bootstrap_ci_is_deterministic_and_contains_median() -> None:
    x = _lognormal_sets(1, 40, seed=1)[0]
    low, high = bootstrap_ci(x, seed=3)
    assert (low, high) == bootstrap_ci(x, seed=3)
    assert low <= np.median(x) <= high
    assert bootstrap_ci([2.5]) == (2.5, 2.5)


def test_bootstrap_ci_accepts_statistic_without_axis() -> None:
    x = np.arange(1.0, 21.0)
    vectorised = bootstrap_ci(x, statistic=np.mean, n_resamples=300)
    per_row = bootstrap_ci(x, statistic=lambda v: float(np.mean(v)), n_resamples=300)
    assert vectorised == pytest.approx(per_row)


def test_bootstrap_ci_coverage_n30() -> None:
    sets = _lognormal_sets(300, 30, seed=11)
    intervals = [bootstrap_ci(x, n_resamples=500, seed=i) for i, x in enumerate(sets)]
    assert 0.88 <= _coverage(intervals, truth=1.0) <= 0.99


def test_order_statistic_coverage_n30() -> None:
    sets = _lognormal_sets(300, 30, seed=12)
    results = [median_with_ci(x) for x in sets]
    assert all(r.method.startswith("order-statistic(binomial)") for r in results)
    # exact coverage at n=30 is 95.7%
    assert 0.90 <= _coverage([(r.low, r.high) for r in results], truth=1.0) <= 0.99


def test_small_n_uses_bootstrap_and_returns_the_range() -> None:
    r = median_with_ci([3.0, 1.0, 2.0])
    assert r == Interval(estimate=2.0, low=1.0, high=3.0, method="bootstrap-percentile(n=3)")
    assert median_with_ci([7.0]) == Interval(7.0, 7.0, 7.0, "bootstrap-percentile(n=1)")


@pytest.mark.parametrize(("n", "method"), [(5, "bootstrap-percentile"), (6, "order-statistic")])
def test_method_switches_at_six(n: int, method: str) -> None:
    assert median_with_ci(np.arange(float(n))).method.startswith(method)


def test_small_n_coverage_is_the_documented_one() -> None:
    # for n=5 the interval is [min, max], coverage 1 - 2**-4 = 93.75%
    sets = _lognormal_sets(300, 5, seed=13)
    intervals = [(r.low, r.high) for r in map(median_with_ci, sets)]
    assert intervals == [(x.min(), x.max()) for x in sets]
    assert 0.88 <= _coverage(intervals, truth=1.0) <= 0.98


def test_interval_to_dict() -> None:
    d = median_with_ci(np.arange(10.0)).to_dict()
    assert set(d) == {"estimate", "low", "high", "method"}
    with pytest.raises(ValueError):
        Interval(1.0, 2.0, 1.0, "x")


# --------------------------------------------------------------------------- comparison


def _normal(mean: float, cv: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, mean * cv, n)


def test_ten_percent_slowdown_is_detected() -> None:
    a, b = _normal(0.100, 0.01, 200, seed=1), _normal(0.110, 0.01, 200, seed=2)
    c = compare_samples(a, b, higher_is_better=False)
    assert c.verdict == "slower"
    assert c.ratio == pytest.approx(1.10, abs=0.005)
    assert c.low <= 1.10 <= c.high
    assert c.low > 1.0 and c.p_value < 1e-6
    assert compare_samples(a, b, higher_is_better=False) == c  # deterministic


def test_higher_is_better_flips_the_verdict() -> None:
    a, b = _normal(0.100, 0.01, 200, seed=1), _normal(0.110, 0.01, 200, seed=2)
    assert compare_samples(a, b, higher_is_better=True).verdict == "faster"
    assert compare_samples(b, a, higher_is_better=False).verdict == "faster"
    assert compare_samples(b, a, higher_is_better=True).verdict == "slower"


@pytest.mark.parametrize("min_effect", [0.01, 0.0])
def test_same_distribution_rarely_differs(min_effect: float) -> None:
    verdicts = [
        compare_samples(
            _normal(0.1, 0.01, 50, seed=2 * s),
            _normal(0.1, 0.01, 50, seed=2 * s + 1),
            higher_is_better=False,
            min_effect=min_effect,
            seed=s,
        ).verdict
        for s in range(50)
    ]
    assert sum(v != "no significant difference" for v in verdicts) <= 5


def test_effect_below_min_effect_is_not_significant() -> None:
    a, b = _normal(0.100, 0.001, 200, seed=3), _normal(0.1005, 0.001, 200, seed=4)
    c = compare_samples(a, b, higher_is_better=False)
    assert c.p_value < 0.05 and c.low > 1.0  # statistically clear, but only 0.5%
    assert c.verdict == "no significant difference"
    assert compare_samples(a, b, higher_is_better=False, min_effect=0.001).verdict == "slower"


def test_single_samples_are_never_significant() -> None:
    c = compare_samples([1.0], [2.0], higher_is_better=False)
    assert (c.ratio, c.low, c.high, c.p_value) == (2.0, 2.0, 2.0, 1.0)
    assert c.verdict == "no significant difference"


@pytest.mark.parametrize(("a", "b"), [([1.0, 0.0], [1.0]), ([1.0], [-1.0]), ([], [1.0])])
def test_compare_rejects_bad_samples(a: list[float], b: list[float]) -> None:
    with pytest.raises(ValueError):
        compare_samples(a, b, higher_is_better=False)


def test_regression_exceeds_lower_is_better() -> None:
    a, b = _normal(0.100, 0.01, 200, seed=1), _normal(0.110, 0.01, 200, seed=2)
    slower = compare_samples(a, b, higher_is_better=False)
    assert regression_exceeds(slower, 0.05, higher_is_better=False)
    assert not regression_exceeds(slower, 0.15, higher_is_better=False)
    faster = compare_samples(b, a, higher_is_better=False)
    assert not regression_exceeds(faster, 0.05, higher_is_better=False)


def test_regression_exceeds_higher_is_better() -> None:
    a, b = _normal(1000.0, 0.01, 200, seed=5), _normal(930.0, 0.01, 200, seed=6)
    c = compare_samples(a, b, higher_is_better=True)
    assert c.verdict == "slower"
    assert regression_exceeds(c, 0.05, higher_is_better=True)
    assert not regression_exceeds(c, 0.10, higher_is_better=True)
    with pytest.raises(ValueError):
        regression_exceeds(c, 0.05, higher_is_better=False)


def test_comparison_to_dict_and_validation() -> None:
    d = compare_samples([1.0, 1.1], [1.0, 1.2], higher_is_better=False).to_dict()
    assert set(d) == {"ratio", "low", "high", "p_value", "verdict", "method"}
    with pytest.raises(ValueError):
        Comparison(1.0, 1.0, 1.0, 0.5, "better", "x")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- steady state


def _reference_steady_start(samples, window, cv_threshold, min_warmup, max_warmup):
    """The rule written out directly, independently of SteadyStateDetector."""
    for n in range(1, len(samples) + 1):
        last = np.asarray(samples[n - window : n]) if n >= window else None
        if n >= min_warmup and last is not None:
            cv = np.std(last, ddof=1) / np.mean(last) if np.mean(last) != 0 else 0.0
            if cv <= cv_threshold:
                return n, False
        if n >= max_warmup:
            return n, True
    return None


def _decaying() -> list[float]:
    steady = _normal(0.1, 0.01, 60, seed=0)
    return [1.0, 0.5, 0.2, *steady]


@pytest.mark.parametrize("window", [5, 10])
def test_decaying_warmup_settles_after_the_first_steady_window(window: int) -> None:
    detector = SteadyStateDetector(window=window)
    answers = [detector.observe(x) for x in _decaying()]
    # the first window of `window` steady steps ends at step 3 + window
    assert answers.index(True) == 3 + window - 1
    assert all(answers[3 + window - 1 :])
    assert (detector.warmup_steps, detector.capped) == (3 + window, False)


def test_min_warmup_delays_a_steady_start() -> None:
    assert steady_start([0.1] * 20, window=5, min_warmup=8) == (8, False)
    assert steady_start([0.1] * 20, window=5, min_warmup=0) == (5, False)


def test_permanently_noisy_sequence_hits_the_cap() -> None:
    noisy = np.random.default_rng(7).lognormal(np.log(0.1), 0.5, 200)
    detector = SteadyStateDetector(max_warmup=40)
    answers = [detector.observe(x) for x in noisy]
    assert answers.index(True) == 39
    assert (detector.warmup_steps, detector.capped) == (40, True)
    assert steady_start(noisy, max_warmup=40) == (40, True)


def test_detector_state_before_deciding() -> None:
    detector = SteadyStateDetector()
    assert not detector.observe(1.0)
    assert detector.warmup_steps is None and not detector.capped
    assert detector.rule == "CV of last 10 steps <= 10% after >= 3 steps, cap 100"


def test_steady_start_raises_when_samples_end_undecided() -> None:
    with pytest.raises(ValueError, match="before warm-up ended"):
        steady_start([1.0, 0.5, 0.2])


@pytest.mark.parametrize(
    "kwargs", [{"window": 1}, {"cv_threshold": 0.0}, {"min_warmup": -1}, {"max_warmup": 5}]
)
def test_detector_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SteadyStateDetector(**kwargs)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.1])
def test_detector_rejects_bad_step_times(bad: float) -> None:
    with pytest.raises(ValueError):
        SteadyStateDetector().observe(bad)


@settings(max_examples=80, deadline=None)
@given(
    samples=st.lists(st.floats(min_value=0.05, max_value=0.15), min_size=10, max_size=40),
    window=st.integers(2, 8),
    cv_threshold=st.sampled_from([0.01, 0.1, 0.3]),
    min_warmup=st.integers(0, 10),
    extra_cap=st.integers(0, 20),
)
def test_online_offline_and_reference_agree(samples, window, cv_threshold, min_warmup, extra_cap) -> None:
    params = dict(window=window, cv_threshold=cv_threshold, min_warmup=min_warmup)
    params["max_warmup"] = max(window, min_warmup) + extra_cap
    expected = _reference_steady_start(samples, **params)
    detector = SteadyStateDetector(**params)
    online = next((i + 1 for i, x in enumerate(samples) if detector.observe(x)), None)
    if expected is None:
        assert online is None and detector.warmup_steps is None
        with pytest.raises(ValueError):
            steady_start(samples, **params)
    else:
        assert (online, detector.capped) == expected
        assert steady_start(samples, **params) == expected


# --------------------------------------------------------------------------- noise


def _steps(seed: int, n: int = 1000, spread: float = 0.01) -> np.ndarray:
    return 0.010 * np.random.default_rng(seed).lognormal(0.0, spread, n)


def test_one_stall_does_not_make_a_trial_noisy_where_it_would_trip_a_cv() -> None:
    steps = _steps(0)
    steps[500] = 4.4  # one 4.4 s stall among 10 ms steps, as measured on a shared VM
    assert Summary.from_samples(list(steps)).cv > 1.0  # the old CV > 5% rule fired on this
    assert robust_spread(steps) == pytest.approx(0.01, rel=0.15)
    quiet = noise_verdict([10.0, 10.1, 9.95], [robust_spread(steps)] * 3)
    assert not quiet.noisy and quiet.reasons == () and quiet.between is not None and quiet.between < NOISY_BETWEEN


def test_the_noise_flag_fires_on_spread_between_trials_and_on_a_varying_typical_step() -> None:
    between = noise_verdict([10.0, 11.5, 9.0], [0.01, 0.01, 0.01], what="median steps")
    assert between.noisy and len(between.reasons) == 1
    assert between.reasons[0].startswith("between-trial spread 12.3% (sd of the log median steps over 3 trials) > 5%")
    within = noise_verdict([10.0, 10.0], [0.01, robust_spread(_steps(1, spread=0.3))])
    assert within.noisy and within.reasons[0].startswith("trial 2: its typical step varied, MAD/median")
    assert noise_verdict([10.0], [0.02]) .between is None  # one trial: no between-trial spread to flag
    assert NOISY_MAD == 0.10


def test_the_threshold_reason_holds_eight_pairs_at_five_percent_show_about_eight_and_a_half() -> None:
    assert detectable_change(NOISY_BETWEEN * math.sqrt(2), 8, "paired") == pytest.approx(0.085, abs=0.002)


def test_holm_matches_a_hand_computed_table() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, max(2*0.03, .), max(1*0.04, 0.06), in input order
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == [] and holm([0.2]) == [0.2]


def test_paired_log_ratio_is_the_geometric_mean_with_a_t_interval() -> None:
    ref, cand = [10.0, 20.0, 40.0, 15.0], [11.0, 21.0, 45.0, 16.0]
    r = paired_log_ratio(ref, cand)
    logs = np.log(np.array(cand) / np.array(ref))
    assert r.ratio == pytest.approx(math.exp(logs.mean())) and r.n == 4
    half = 3.182446305284263 * logs.std(ddof=1) / 2.0  # t(0.975, 3) * sd / sqrt(4)
    assert (r.low, r.high) == pytest.approx((math.exp(logs.mean() - half), math.exp(logs.mean() + half)))
    assert paired_log_ratio([1.0], [2.0]).low is None
    with pytest.raises(ValueError, match="as many"):
        paired_log_ratio([1.0, 2.0], [1.0])


def test_detectable_change_shrinks_with_pairs_and_units_needed_inverts_it() -> None:
    changes = [detectable_change(0.05, n) for n in (4, 8, 16, 32)]
    assert changes == sorted(changes, reverse=True)
    n = units_needed(0.05, 0.03)
    assert detectable_change(0.05, n) <= 0.03 < detectable_change(0.05, n - 1)
    text = detectable_text(0.05, 6)
    assert text.startswith("at this spread (sd 5.0% between pairs), 6 pairs can show a change of ")
    assert "; to show 5%, use " in text
    assert detectable_text(None, 6) is None and detectable_change(0.05, 1) is None


def test_batch_means_cover_the_median_of_autocorrelated_steps_where_order_statistics_do_not() -> None:
    rng = np.random.default_rng(0)
    rho, n, draws = 0.9, 1000, 300
    hits_batch = hits_order = 0
    for _ in range(draws):
        noise = rng.normal(0.0, 1.0, n)
        x = np.empty(n)
        x[0] = noise[0]
        for i in range(1, n):
            x[i] = rho * x[i - 1] + math.sqrt(1 - rho**2) * noise[i]
        steps = 0.010 * np.exp(0.05 * x)  # true median: 10 ms
        b, o = batch_median_interval(steps), median_with_ci(steps)
        hits_batch += b.low <= 0.010 <= b.high
        hits_order += o.low <= 0.010 <= o.high
    assert hits_order / draws < 0.6  # the old per-step interval: ~45% at rho 0.9
    assert hits_batch / draws >= 0.88
