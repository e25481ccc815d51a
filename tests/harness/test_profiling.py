import pytest

from tweetbench.analysis.breakdown import PARTS, breakdown_from_durations
from tweetbench.harness.profiling import top_functions

MOD = "[LightningModule]TweetClassifier"
STRAT = "[Strategy]SingleDeviceStrategy"


def recorded(n=4, first=1.0):
    """SimpleProfiler-shaped durations (seconds) for n steps; the first call of each is a slow warm-up."""
    def series(value):
        return [first] + [value] * (n - 1)
    return {
        "[_TrainingEpochLoop].train_dataloader_next": series(0.001),
        f"{STRAT}.batch_to_device": series(0.0005),
        f"{MOD}.transfer_batch_to_device": series(0.0004),  # nested in batch_to_device: not added again
        f"{STRAT}.training_step": series(0.004),
        f"{STRAT}.backward": series(0.006),
        f"{MOD}.on_before_backward": series(0.0001),  # nested in backward
        f"{MOD}.optimizer_step": series(0.013),  # contains training_step (4 ms) + backward (6 ms)
        "run_training_batch": series(0.0135),
        "run_training_epoch": [0.1],
    }


def test_nesting_is_resolved_into_exclusive_parts():
    b = breakdown_from_durations(recorded(), step_seconds=0.016, skip=1)
    ms = {name: b["parts"][name]["ms_per_step"] for name in PARTS}
    assert ms["data_loading"] == pytest.approx(1.0)
    assert ms["host_to_device"] == pytest.approx(0.5)
    assert ms["forward"] == pytest.approx(4.0)
    assert ms["backward"] == pytest.approx(6.0)
    assert ms["optimizer"] == pytest.approx(3.0)  # 13 - 4 - 6
    assert ms["other"] == pytest.approx(1.5)  # 16 - 14.5
    assert sum(b["parts"][n]["share"] for n in PARTS) == pytest.approx(1.0)
    assert b["parts_step_ms"] == pytest.approx(16.0)
    assert b["bottleneck"] == "backward"
    assert b["verdict"] == "backward-bound: 38% of each step"


def test_shares_add_to_100_even_when_actions_exceed_the_clock():
    b = breakdown_from_durations(recorded(), step_seconds=0.010, skip=1)
    assert b["parts"]["other"]["ms_per_step"] == 0.0
    assert sum(b["parts"][n]["share"] for n in PARTS) == pytest.approx(1.0)


def test_warmup_calls_are_skipped():
    with_warmup = breakdown_from_durations(recorded(), step_seconds=0.016, skip=0)
    assert with_warmup["parts"]["forward"]["ms_per_step"] > 200


def test_strategy_name_does_not_matter():
    durations = {k.replace("SingleDeviceStrategy", "SingleDeviceXLAStrategy"): v for k, v in recorded().items()}
    b = breakdown_from_durations(durations, step_seconds=0.016, skip=1)
    assert b["parts"]["forward"]["ms_per_step"] == pytest.approx(4.0)


def test_top_functions_reads_a_cprofile_dump(tmp_path):
    import cProfile

    def work():
        # A plain loop: its time is work's own on every Python. (A generator's own time is credited to the
        # generator on 3.11 and differently on 3.12, so a genexpr made this test version-dependent.)
        total = 0
        for i in range(50000):
            total += i * i
        return total

    profiler = cProfile.Profile()
    profiler.runcall(work)
    path = tmp_path / "step.prof"
    profiler.dump_stats(path)
    rows = top_functions(path, limit=3)
    assert len(rows) <= 3
    # By own time (the functions that do the work), no longer by cumulative time (issue 14).
    assert rows == sorted(rows, key=lambda r: r["own_s"], reverse=True)
    assert "work" in rows[0]["function"]
