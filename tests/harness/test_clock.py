from tweetbench.harness.clock import StepClock


class FakeTrainer:
    should_stop = False


def test_every_clock_read_follows_a_sync_and_warmup_is_apart():
    events = []
    clock = StepClock(lambda: events.append("sync"), measured_steps=3, warmup_steps=2,
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
    clock = StepClock(lambda: None, measured_steps=2)
    clock.start()
    clock.tick()
    clock.tick()
    assert len(clock.measured) == 2 and clock.warmup == []


class HostTimer:
    """A StepTimer on the host clock: marks are perf_counter readings."""

    source = "host"

    def __init__(self) -> None:
        import time

        self.time = time
        self.marks: list[float] = []

    def mark(self) -> None:
        self.marks.append(self.time.perf_counter())

    def intervals(self) -> list[float]:
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


def test_device_timer_is_marked_with_every_step_and_sliced_like_the_wall_clock():
    import time

    timer = HostTimer()
    clock = StepClock(lambda: None, measured_steps=3, warmup_steps=2, device_timer=timer,
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
    assert StepClock(lambda: None, 1).device_intervals() is None
