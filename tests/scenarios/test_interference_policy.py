from tweetbench.config import PRESETS, WORKLOADS, DeviceJob
from tweetbench.scenarios.outcome import REMEASURE_ATTEMPTS, Outcome, check_interference, check_timers, measure


def job(policy):
    return DeviceJob("cpu", WORKLOADS["tiny"], PRESETS["smoke"], on_interference=policy)


def attempts_that(interfered):
    """A measured pass whose n-th attempt is interfered as ``interfered[n-1]`` says."""
    calls = []

    def attempt(n):
        calls.append(n)
        return {"n": n, "interfered": interfered[n - 1]}

    return attempt, calls


def test_flag_measures_once_even_when_interfered():
    attempt, calls = attempts_that([True, False, False])
    kept, earlier = measure(job("flag"), attempt, lambda run: run)
    assert calls == [1] and kept["n"] == 1 and earlier == []


def test_remeasure_measures_again_until_quiet_and_keeps_every_attempt():
    attempt, calls = attempts_that([True, False, False])
    kept, earlier = measure(job("remeasure"), attempt, lambda run: run)
    assert calls == [1, 2] and kept["n"] == 2 and [run["n"] for run in earlier] == [1]


def test_remeasure_is_bounded_and_keeps_the_last_attempt_flagged():
    attempt, calls = attempts_that([True] * 10)
    kept, earlier = measure(job("remeasure"), attempt, lambda run: run)
    assert len(calls) == REMEASURE_ATTEMPTS and kept["interfered"]
    assert len(earlier) == REMEASURE_ATTEMPTS - 1


def section(interfered):
    return {"interfered": interfered, "reasons": ["other processes used 0.90 of the 2 cores (threshold 0.25)"]
            if interfered else [], "cpu_measured": True, "cores": 2, "others_cores": 0.9 if interfered else 0.0,
            "stalled_steps": 0, "stalled_s": 0.0, "window_s": 5.0, "cut_short": None}


def outcome(training_interfered):
    out = Outcome()
    out.metrics = {"training": {"interference": section(training_interfered)},
                   "inference": {"interference": section(False), "offline": {"interference": section(False)}}}
    return out


def test_invalid_marks_an_interfered_result_invalid_with_the_reason():
    out = outcome(True)
    check_interference(out, "invalid")
    assert out.status == "invalid"
    assert "interference in the training window: other processes used 0.90 of the 2 cores" in out.reason
    assert out.metrics["interference"]["interfered_windows"] == ["training"]


def test_flag_names_it_and_keeps_the_result_ok():
    out = outcome(True)
    check_interference(out, "flag")
    assert out.status == "ok" and out.metrics["interference"]["interfered"]


def test_a_quiet_run_is_ok_under_invalid():
    out = outcome(False)
    check_interference(out, "invalid")
    assert out.status == "ok" and not out.metrics["interference"]["interfered"]
    assert set(out.metrics["interference"]["windows"]) == {"training", "batch-1 inference", "batched inference"}


def test_a_disagreeing_device_clock_becomes_a_window_warning():
    out = Outcome()
    out.metrics = {"training": {"timer_agreement": {"status": "disagrees", "source": "cuda-events", "steps": 8,
                                                    "total_rel_diff": 0.2, "p50_rel_diff": 0.2, "tolerance": 0.05}},
                   "inference": {"timer_agreement": {"status": "agrees"}}}
    check_timers(out)
    assert len(out.metrics["window_warnings"]) == 1
    assert "disagrees with the host clock" in out.metrics["window_warnings"][0]


class WindowBackend:
    """A backend that rejects windows which compiled and warns of transfers beyond the allowed."""

    def check_measurement(self, window):
        return "an XLA compile inside the measured window" if window.get("compiles") else ""

    def measurement_warning(self, window, steps, allowed):
        return f"{window['transfers'] / steps:.0f} transfers per step" if window.get("transfers", 0) > allowed * steps \
            else ""


def test_check_windows_fails_a_window_that_compiled_and_warns_of_one_that_transferred():
    from tweetbench.scenarios.outcome import check_windows

    out = Outcome()
    check_windows(out, WindowBackend(), {"training": ({"compiles": 1}, 10), "batch-1 inference": ({"transfers": 90}, 10),
                                         "batched inference": ({}, 10)})
    assert out.status == "invalid" and out.reason == "an XLA compile inside the measured window of training"
    assert out.metrics["window_warnings"] == ["9 transfers per step of batch-1 inference"]
    quiet = Outcome()
    check_windows(quiet, WindowBackend(), {"training": ({}, 10)})
    assert quiet.status == "ok" and "window_warnings" not in quiet.metrics
