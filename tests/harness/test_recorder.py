from tweetbench.devices.clock import HostClock
from tweetbench.harness.recorder import StepRecorder, own_clock


class FakeTrainer:
    should_stop = False


def test_every_clock_read_follows_a_sync_and_warmup_is_apart():
    events = []
    clock = StepRecorder(lambda: events.append("sync"), measured_steps=3, warmup_steps=2,
                      on_measure_start=lambda: events.append("begin"), on_measure_end=lambda: events.append("end"))
    trainer = FakeTrainer()
    clock.start()
    for _ in range(5):
        clock._tick(trainer)
    assert events.count("sync") == 6
    assert events.index("begin") < events.index("end")
    assert len(clock.warmup) == 2 and len(clock.measured) == 3
    assert trainer.should_stop and clock.done
    assert clock.measured_seconds >= sum(clock.measured) * 0.999


def test_no_warmup_measures_from_the_start():
    clock = StepRecorder(lambda: None, measured_steps=2)
    clock.start()
    clock.tick()
    clock.tick()
    assert len(clock.measured) == 2 and clock.warmup == []


class OwnHostClock(HostClock):
    """The host clock, standing in for a device's own: marks are perf_counter readings."""

    on_device = True


def test_device_clock_is_marked_with_every_step_and_sliced_like_the_wall_clock():
    import time

    clock = StepRecorder(lambda: None, measured_steps=3, warmup_steps=2, device_clock=OwnHostClock(),
                         on_measure_start=lambda: time.sleep(0.5))
    clock.start()
    for _ in range(5):
        time.sleep(0.01)
        clock._tick(FakeTrainer())
    warmup, measured = clock.device_intervals()
    assert len(warmup) == 2 and len(measured) == 3
    # The measure-start hook (500 ms) falls in neither clock's measured steps (10 ms each, and slack for load).
    assert max(measured) < 0.25 and max(clock.measured) < 0.25
    assert abs(sum(measured) - sum(clock.measured)) < 0.05
    assert StepRecorder(lambda: None, 1).device_intervals() is None


def test_only_a_device_s_own_clock_is_recorded_beside_the_wall_clock():
    assert own_clock(HostClock()) is None
    clock = OwnHostClock()
    assert own_clock(clock) is clock
    assert StepRecorder(lambda: None, 1, device_clock=clock).device_source == "host perf_counter"


def test_an_overlapped_window_syncs_only_at_its_ends_then_synced_steps_follow():
    events: list[str] = []
    clock = StepRecorder(lambda: events.append("sync"), measured_steps=4, warmup_steps=2, overlap=True,
                         synced_steps=3, on_measure_start=lambda: events.append("begin"),
                         on_measure_end=lambda: events.append("end") or {})
    trainer = FakeTrainer()
    clock.start()
    for _ in range(2 + 4 + 3):
        clock._tick(trainer)
        events.append("tick")
    # start, 2 warm-up steps, the window's last step only, then 3 synced steps.
    assert events.count("sync") == 1 + 2 + 1 + 3
    window = events[events.index("begin"):events.index("end")]
    # Inside the window only its last step synchronises (the first "tick" is the warm-up step that opened it).
    assert window.count("sync") == 1 and window[-1] == "sync" and window.count("tick") == 4
    assert len(clock.measured) == 4 and len(clock.synced) == 3 and clock.done and trainer.should_stop
    assert clock.measured_seconds >= 0


def test_without_overlap_no_synced_steps_are_added():
    clock = StepRecorder(lambda: None, measured_steps=2, synced_steps=5)
    assert clock.synced_steps == 0
