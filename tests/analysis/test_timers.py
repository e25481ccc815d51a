import pytest

from tweetbench.analysis.timers import TIMER_TOLERANCE, disagreement, not_applicable, timer_agreement


def test_the_host_clock_against_itself_is_not_applicable_not_a_pass():
    result = timer_agreement(None, [0.01] * 5, None)
    assert result["status"] == "not applicable"
    assert "host clock" in result["reason"]
    assert not_applicable("host perf_counter")["status"] == "not applicable"


def test_agreeing_clocks_agree():
    host = [0.010, 0.011, 0.009, 0.010]
    assert timer_agreement("cuda-events", host, [s * 1.01 for s in host])["status"] == "agrees"


@pytest.mark.parametrize("scale", [1.2, 0.8, 1 + 2 * TIMER_TOLERANCE])
def test_a_clock_that_runs_fast_or_slow_disagrees(scale):
    host = [0.010, 0.011, 0.009, 0.010]
    result = timer_agreement("cuda-events", host, [s * scale for s in host])
    assert result["status"] == "disagrees"
    assert "disagrees with the host clock" in disagreement(result, "training")


def test_one_clock_that_misses_a_step_disagrees_in_total_though_its_median_agrees():
    host = [0.010] * 9 + [0.100]
    device = [0.010] * 9 + [0.010]  # the long step's work was on another stream
    assert timer_agreement("cuda-events", host, device)["status"] == "disagrees"


def test_steps_of_tens_of_microseconds_agree_within_the_floor():
    host = [40e-6] * 10
    assert timer_agreement("cuda-events", host, [s + 8e-6 for s in host])["status"] == "disagrees"  # total 20% off
    host = [40e-6] * 9 + [0.01]
    result = timer_agreement("cuda-events", host, [s + 8e-6 for s in host[:9]] + [0.01])
    assert result["status"] == "agrees"


def test_lists_of_different_lengths_are_not_compared():
    assert timer_agreement("cuda-events", [0.01] * 3, [0.01] * 2)["status"] == "not compared"
