import subprocess
import sys
import time

import psutil
import pytest

from tweetbench.harness import interference as intf
from tweetbench.harness.interference import (
    INTERFERENCE_CORES,
    STALL_FACTOR,
    CpuProbe,
    CpuSample,
    combine,
    cpu_use,
    interference_section,
    stalls,
    window_cap,
)


def test_others_cores_is_busy_time_less_our_own_over_the_wall_time():
    first = CpuSample(at=0.0, busy_s=10.0, steal_s=1.0, own_s=5.0)
    last = CpuSample(at=10.0, busy_s=29.0, steal_s=3.0, own_s=15.0)
    use = cpu_use(first, last, cores=2)
    # 19 busy seconds, 10 of them ours, over 10 s: 0.9 of a core went to others; 2 s stolen: 0.2 core.
    assert use["others_cores"] == pytest.approx(0.9)
    assert use["own_cores"] == pytest.approx(1.0)
    assert use["steal_cores"] == pytest.approx(0.2)


def test_tick_rounding_never_gives_others_a_negative_share():
    use = cpu_use(CpuSample(0.0, 0.0, 0.0, 0.0), CpuSample(1.0, 1.0, 0.0, 1.01), cores=2)
    assert use["others_cores"] == 0.0


def test_a_step_over_the_stall_factor_stalls_and_one_under_does_not():
    steps = [0.01] * 20 + [0.01 * STALL_FACTOR * 1.01, 0.01 * STALL_FACTOR * 0.99]
    found = stalls(steps)
    assert found["stalled_steps"] == 1
    assert found["stalled_s"] == pytest.approx(0.01 * STALL_FACTOR * 1.01)


def test_a_quiet_window_is_not_interfered():
    cpu = {"cpu_measured": True, "cores": 2, "others_cores": 0.02, "own_cores": 1.9, "steal_cores": 0.0,
           "cpu_window_s": 5.0}
    section = interference_section(cpu, [0.01] * 500, 5.0)
    assert not section["interfered"] and section["reasons"] == []


def test_another_process_on_a_core_interferes_and_says_how_much():
    cpu = {"cpu_measured": True, "cores": 2, "others_cores": 0.9, "own_cores": 1.1, "steal_cores": 0.0,
           "cpu_window_s": 5.0}
    section = interference_section(cpu, [0.01] * 500, 5.0)
    assert section["interfered"]
    assert "other processes used 0.90 of the 2 cores" in section["reasons"][0]


def test_steal_alone_interferes():
    cpu = {"cpu_measured": True, "cores": 2, "others_cores": 0.0, "own_cores": 1.5, "steal_cores": 0.5,
           "cpu_window_s": 5.0}
    assert "stole" in interference_section(cpu, [0.01] * 500, 5.0)["reasons"][0]


def test_stalls_alone_interfere_where_the_cpu_cannot_be_read():
    cpu = {"cpu_measured": False, "cpu_reason": "no /proc/stat"}
    steps = [0.01] * 90 + [0.5] * 10  # 5 s of 5.9 s in ten stalled steps
    section = interference_section(cpu, steps, sum(steps))
    assert section["interfered"] and section["stalled_steps"] == 10
    assert section["cpu_reason"] == "no /proc/stat"


def test_a_short_window_s_tick_rounding_keeps_an_unsure_share_from_counting():
    first, last = CpuSample(0.0, 0.0, 0.0, 0.0), CpuSample(0.05, 0.1, 0.0, 0.05)
    use = cpu_use(first, last, cores=2)
    assert use["others_cores"] == pytest.approx(1.0)
    assert use["others_cores_uncertainty"] > 0.75  # 2 readings x 3 ticks over 50 ms
    assert not interference_section(use, [0.001] * 50, 0.05)["interfered"]
    # The same share over 5 s is sure.
    use = cpu_use(first, CpuSample(5.0, 10.0, 0.0, 5.0), cores=2)
    assert interference_section(use, [0.01] * 500, 5.0)["interfered"]


def test_a_window_cut_short_is_interfered_with_its_reason():
    cpu = {"cpu_measured": False, "cpu_reason": "x"}
    section = interference_section(cpu, [0.01] * 10, 0.1, cut_short="cut short after 12.0 s")
    assert section["interfered"] and section["reasons"] == ["cut short after 12.0 s"]


def test_the_cap_grows_with_the_warmup_step_and_has_a_floor():
    assert window_cap([0.002] * 10, 1500) == pytest.approx(max(intf.WINDOW_CAP_FLOOR_S, 0.002 * 1500 * 10))
    assert window_cap([0.1] * 10, 1500) == pytest.approx(0.1 * 1500 * intf.WINDOW_CAP_FACTOR)
    assert window_cap([], 10) == intf.WINDOW_CAP_FLOOR_S


def test_combined_blocks_weigh_cpu_by_time_and_count_the_interfered_blocks():
    quiet = interference_section({"cpu_measured": True, "cores": 2, "others_cores": 0.0, "own_cores": 2.0,
                                  "steal_cores": 0.0, "cpu_window_s": 3.0}, [0.01] * 300, 3.0)
    loaded = interference_section({"cpu_measured": True, "cores": 2, "others_cores": 1.0, "own_cores": 1.0,
                                   "steal_cores": 0.0, "cpu_window_s": 1.0}, [0.01] * 100, 1.0)
    both = combine([quiet, loaded])
    assert both["others_cores"] == pytest.approx(0.25)
    assert both["interfered"] and both["interfered_windows"] == 1


def test_a_probe_whose_readings_fail_says_not_measured_and_why(monkeypatch):
    def broken(*_: object) -> None:
        raise OSError("no /proc/stat")

    monkeypatch.setattr(intf.psutil, "cpu_times", broken)
    probe = CpuProbe()
    probe.start()
    probe.stop()
    result = probe.result()
    assert result["cpu_measured"] is False and "no /proc/stat" in result["cpu_reason"]


@pytest.mark.skipif(not sys.platform.startswith("linux") or (psutil.cpu_count() or 1) < 2, reason="needs Linux, 2+ cores")
def test_a_real_busy_process_is_seen_as_another_process_use():
    # Started through a shell that exits, so the hog is no child of ours (our children count as our own).
    started = subprocess.run(["sh", "-c", f"'{sys.executable}' -c 'while True: pass' >/dev/null 2>&1 & echo $!"],
                             capture_output=True, text=True, check=True)
    hog = psutil.Process(int(started.stdout))
    try:
        time.sleep(0.3)
        probe = CpuProbe()
        probe.start()
        time.sleep(1.5)
        probe.stop()
        result = probe.result()
    finally:
        hog.kill()
        hog.wait(timeout=5)
    assert result["cpu_measured"]
    # The hog runs a whole core when it can; other helpers' load on this machine only adds to it.
    assert result["others_cores"] >= INTERFERENCE_CORES
    assert result["own_cores"] < 0.2  # we slept


def test_our_own_children_count_as_ours():
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile time.process_time() < 1.0: pass"])
    try:
        probe = CpuProbe()
        probe.start()
        child.wait(timeout=30)
        probe.stop()
    finally:
        child.kill()
        child.wait()
    # The child, reaped, is in our children's time: it never counts as another process's use.
    result = probe.result()
    assert result["own_cores"] * result["cpu_window_s"] > 0.8  # CPU seconds: the child spun 1 s of CPU


def test_one_short_block_s_stall_does_not_make_the_pooled_blocks_interfered():
    def block(steps):
        return interference_section({"cpu_measured": False, "cpu_reason": "x"}, steps, sum(steps))
    quiet = [block([0.01] * 20) for _ in range(7)]
    stalled = block([0.01] * 19 + [0.06])  # 24% of its own 0.25 s
    assert stalled["interfered"]
    pooled = combine([*quiet, stalled])
    assert not pooled["interfered"] and pooled["interfered_windows"] == 1
