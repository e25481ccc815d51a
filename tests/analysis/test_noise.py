"""Repeated trials end to end, under forced noise: ``tweetbench run --repeats 2`` while busy processes
compete for the CPU in random bursts must write both trial records and flag the device ``noisy``.

The bursts (1-20 ms busy, then 1-20 ms asleep, at random) make the noise certain on any machine:
one process per core takes the cores away from the measured steps at random moments, so the typical
step itself varies (MAD/median far above the 10% rule) and the trials disagree (far beyond the 5%
between-trial rule), whatever the machine's own load. A quiet run is not
tested here: on a shared machine no test can promise quiet.
"""

import json
import os
import subprocess
import sys

import pytest

from tweetbench.records import read_result

pytestmark = pytest.mark.slow

BURSTS = r"""
import random, sys, time
rng = random.Random(int(sys.argv[1]))
deadline = time.monotonic() + float(sys.argv[2])  # never outlives the test, even if it is not killed
while time.monotonic() < deadline:
    busy_until = time.perf_counter() + rng.uniform(0.001, 0.020)
    while time.perf_counter() < busy_until:
        pass
    time.sleep(rng.uniform(0.001, 0.020))
"""


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("noisy")
    hogs = [subprocess.Popen([sys.executable, "-c", BURSTS, str(seed), "600"])
            for seed in range(os.cpu_count() or 2)]
    try:
        proc = subprocess.run([sys.executable, "-m", "tweetbench", "run", "--devices", "cpu", "--preset", "smoke",
                               "--workload", "tiny", "--repeats", "2", "--no-profile", "--out", str(out)],
                              cwd=out, capture_output=True, text=True, timeout=600)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def test_each_trial_is_kept_and_the_device_result_aggregates_them(noisy_run):
    cpu = read_result(noisy_run / "cpu.json").to_dict()
    trials = [read_result(noisy_run / "trials" / f"cpu.trial{k}.json").to_dict() for k in (1, 2)]
    assert [t["trial"] for t in trials] == [1, 2] and cpu["trial"] == 0
    assert cpu["status"] == "ok" and cpu["trials"]["count"] == 2 and cpu["trials"]["requested"] == 2
    per_trial = cpu["trials"]["per_trial"]
    assert [t["file"] for t in per_trial] == ["trials/cpu.trial1.json", "trials/cpu.trial2.json"]
    for figures, record in zip(per_trial, trials):
        train = record["metrics"]["training"]
        assert figures["train_samples_per_s"] == train["samples_per_s"]
        assert figures["warmup_steps"] == train["warmup_steps"] and figures["step_cv"] == train["step_ms"]["cv"]
        assert figures["noise"]["load_average"] is not None and figures["noise"]["torch_threads"] >= 1
    assert len(cpu["metrics"]["training"]["raw_step_s"]) == sum(len(t["metrics"]["training"]["raw_step_s"])
                                                                for t in trials)
    head = cpu["trials"]["headline"]["train_samples_per_s"]
    assert head["low"] <= head["estimate"] <= head["high"] and head["coverage"] == 0.5
    assert trials[0]["breakdown"] is None  # --no-profile
    assert json.loads((noisy_run / "run.json").read_text())["repeats"] == 2


def test_competing_bursts_raise_the_noisy_flag_and_the_report_warns(noisy_run):
    cpu = read_result(noisy_run / "cpu.json").to_dict()
    assert cpu["noisy"] is True, cpu["trials"]["per_trial"]
    assert cpu["noise_reasons"] and cpu["trials"]["noise"]["within_limit"] == 0.10
    assert max(t["step_cv"] for t in cpu["trials"]["per_trial"]) > 0.05
    report = (noisy_run / "report.md").read_text()
    assert "**Noisy: cpu**" in report and "| trial | status | train samples/s |" in report
    assert "(noisy)" in (noisy_run.parent / "summary.md").read_text()
