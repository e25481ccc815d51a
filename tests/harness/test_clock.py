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
