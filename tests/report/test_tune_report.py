"""The tune run's report, from a record alone."""

from tweetbench.report import plots
from tweetbench.report.tune import render_tune_report


def tune_record(sweep: dict) -> dict:
    for p in sweep["points"]:
        if p["status"] == "ok":
            p.update(steps=1024 // p["batch_size"], warmup_steps=1, step_ms={"p50": 12.5}, val_loss=1.1)
    return {
        "run_id": "20260101-000000-abcdef", "command": ["tweetbench", "tune"],
        "device": {"name": "cpu", "label": "CPU (x)"},
        "workload": {"name": "tweets-bilstm-tiny", "fingerprint": "sha256:" + "a" * 64,
                     "config": {"precision": "32-true"}},
        "settings": {"name": "smoke"}, "memory_cap_fault": 64,
        "finders": {"batch_size": {"suggested": 64, "mode": "power", "init_val": 16, "steps_per_trial": 2,
                                   "tried": [16, 32, 64, 128], "limited_by": "batch 128 ran out of memory"},
                    "lr": {"suggested": 2.5e-3, "steps_run": 30, "min_lr": 1e-6, "max_lr": 1.0, "batch_size": 16,
                           "workload_lr": 1e-3}},
        "sweep": {**sweep, "eval_batch_size": 16},
        "environment": {}, "timing": {"started_at": 0.0},
    }


def test_tune_report_states_the_suggestions_the_peaks_and_the_failure(sweep_record):
    text = render_tune_report(tune_record(sweep_record()))
    assert "| batch size (`Tuner.scale_batch_size`, power mode) | **64** |" in text
    assert "**2.50e-03**" in text
    assert f"![learning-rate finder]({plots.LR_PNG})" in text and f"![batch-size sweep]({plots.SWEEP_PNG})" in text
    assert "Throughput peaks at batch 64 (1,500 samples/s)" in text
    assert "peaks at batch 16 (52.0%)" in text
    assert "| 128 | **out-of-memory** |" in text and "| 256 | **not-run** |" in text
    assert "Batch 128 did not fit in memory, so the sweep stopped there (256 not run)." in text
    assert "test fault" in text
