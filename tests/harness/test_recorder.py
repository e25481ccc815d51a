from tweetbench.devices.clock import DeviceClock
from tweetbench.harness.recorder import StepRecorder, own_clock


class FakeTrainer:
    should_stop = False


def test_every_clock_read_follows_a_sync_and_warmup_is_apart():
    events = []
    recorder = StepRecorder(lambda: events.append("sync"), measured_steps=3, warmup_steps=2,
                      on_measure_start=lambda: events.append("begin"), on_measure_end=lambda: events.append("end"))
    trainer = FakeTrainer()
    recorder.start()
    for _ in range(5):
        recorder._tick(trainer)
    assert events.count("sync") == 6
    assert events.index("begin") < events.index("end")
    assert len(recorder.warmup) == 2 and len(recorder.measured) == 3
    assert trainer.should_stop and recorder.done
    assert recorder.measured_seconds >= sum(recorder.measured) * 0.999


def test_no_warmup_measures_from_the_start():
    recorder = StepRecorder(lambda: None, measured_steps=2)
    recorder.start()
    recorder.tick()
    recorder.tick()
    assert len(recorder.measured) == 2 and recorder.warmup == []


class OwnHostClock(DeviceClock):
    """The host clock, standing in for a device's own: marks are perf_counter readings."""

    on_device = True


def test_device_clock_is_marked_with_every_step_and_sliced_like_the_wall_clock():
    import time

    recorder = StepRecorder(lambda: None, measured_steps=3, warmup_steps=2, device_clock=OwnHostClock(),
                         on_measure_start=lambda: time.sleep(0.5))
    recorder.start()
    for _ in range(5):
        time.sleep(0.01)
        recorder._tick(FakeTrainer())
    warmup, measured = recorder.device_intervals()
    assert len(warmup) == 2 and len(measured) == 3
    # The measure-start hook (500 ms) falls in neither clock's measured steps (10 ms each, and slack for load).
    assert max(measured) < 0.25 and max(recorder.measured) < 0.25
    assert abs(sum(measured) - sum(recorder.measured)) < 0.05
    assert StepRecorder(lambda: None, 1).device_intervals() is None


def test_only_a_device_s_own_clock_is_recorded_beside_the_wall_clock():
    assert own_clock(DeviceClock()) is None
    clock = OwnHostClock()
    assert own_clock(clock) is clock
    assert StepRecorder(lambda: None, 1, device_clock=clock).device_source == "host perf_counter"


def test_an_overlapped_window_syncs_only_at_its_ends_then_synced_steps_follow():
    events: list[str] = []
    recorder = StepRecorder(lambda: events.append("sync"), measured_steps=4, warmup_steps=2, overlap=True,
                         synced_steps=3, on_measure_start=lambda: events.append("begin"),
                         on_measure_end=lambda: events.append("end") or {})
    trainer = FakeTrainer()
    recorder.start()
    for _ in range(2 + 4 + 3):
        recorder._tick(trainer)
        events.append("tick")
    # start, 2 warm-up steps, the window's last step only, then 3 synced steps.
    assert events.count("sync") == 1 + 2 + 1 + 3
    window = events[events.index("begin"):events.index("end")]
    # Inside the window only its last step synchronises (the first "tick" is the warm-up step that opened it).
    assert window.count("sync") == 1 and window[-1] == "sync" and window.count("tick") == 4
    assert len(recorder.measured) == 4 and len(recorder.synced) == 3 and recorder.done and trainer.should_stop
    assert recorder.measured_seconds >= 0


def test_without_overlap_no_synced_steps_are_added():
    recorder = StepRecorder(lambda: None, measured_steps=2, synced_steps=5)
    assert recorder.synced_steps == 0


def test_a_window_past_its_bound_is_cut_short_and_says_why():
    import time

    recorder = StepRecorder(lambda: None, measured_steps=100, warmup_steps=2, overlap=True, synced_steps=10,
                         time_bound=True)
    trainer = FakeTrainer()
    recorder.start()
    for _ in range(2):
        recorder._tick(trainer)
    recorder.cap_s = 0.05  # as if the warm-up's steps had predicted a 50 ms window
    while not recorder.done:
        time.sleep(0.01)
        recorder._tick(trainer)
    assert trainer.should_stop
    assert 1 <= len(recorder.measured) < 100 and recorder.synced == []
    assert recorder.cut_short and "cut short" in recorder.cut_short and f"{len(recorder.measured)} of 100" in recorder.cut_short
    section = recorder.interference()
    assert section["interfered"] and section["cut_short"] == recorder.cut_short
    assert recorder.measured_seconds > 0


def test_a_cut_predict_window_ends_the_predict_loop():
    import pytest

    from tweetbench.harness.recorder import WindowCut

    recorder = StepRecorder(lambda: None, measured_steps=50, time_bound=True)
    recorder.start()
    recorder.cap_s = 0.0
    with pytest.raises(WindowCut):
        recorder.on_predict_batch_end(None, None)  # type: ignore[arg-type]
    assert len(recorder.measured) == 1 and recorder.done


def test_a_window_within_its_bound_is_not_cut():
    recorder = StepRecorder(lambda: None, measured_steps=5, warmup_steps=1, time_bound=True)
    recorder.start()
    for _ in range(6):
        recorder.tick()
    assert recorder.cut_short is None and len(recorder.measured) == 5
    assert recorder.cap_s is not None and recorder.cap_s >= 10.0
    section = recorder.interference()
    assert section["window_s"] == recorder.measured_seconds and "stalled_steps" in section


class SkewedClock(DeviceClock):
    """A device clock whose intervals run 1.2x the host's: what a clock on the wrong stream would show."""

    on_device = True
    source = "skewed test clock"

    def intervals(self, marks):
        return [1.2 * s for s in super().intervals(marks)]


def _synced_pairs(device_clock):
    import time

    recorder = StepRecorder(lambda: None, measured_steps=4, warmup_steps=2, device_clock=device_clock,
                         overlap=True, synced_steps=6)
    recorder.start()
    while not recorder.done:
        time.sleep(0.005)
        recorder._tick(FakeTrainer())
    return recorder.synchronised_pairs()


def test_synchronised_pairs_are_the_synced_steps_on_both_clocks():
    host, device = _synced_pairs(OwnHostClock())
    assert len(host) == len(device) == 6
    assert sum(device) == __import__("pytest").approx(sum(host), rel=0.05)
    assert StepRecorder(lambda: None, 1).synchronised_pairs() is None


def test_timer_agreement_passes_an_agreeing_clock_and_fails_a_skewed_one():
    from tweetbench.analysis.timers import timer_agreement

    host, device = _synced_pairs(OwnHostClock())
    assert timer_agreement("own host clock", host, device)["status"] == "agrees"
    host, device = _synced_pairs(SkewedClock())
    skewed = timer_agreement("skewed test clock", host, device)
    assert skewed["status"] == "disagrees"
    assert skewed["total_rel_diff"] == __import__("pytest").approx(0.2, abs=0.02)


def test_without_a_time_bound_a_slow_window_runs_to_its_end():
    # A data-parallel rank that stopped alone would hang the others: only the benchmark's windows are bounded.
    recorder = StepRecorder(lambda: None, measured_steps=3)
    recorder.start()
    recorder.cap_s = 0.0
    for _ in range(3):
        recorder.tick()
    assert recorder.cut_short is None and len(recorder.measured) == 3
