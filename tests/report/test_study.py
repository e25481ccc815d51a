"""The study's Markdown renderers: tune, convergence and variants, from records alone."""

from study_fixtures import convergence_record, sweep_record

from tweetbench.report import plots
from tweetbench.report.study import (
    convergence_table,
    render_convergence_report,
    render_tune_report,
)


def tune_record():
    sweep = sweep_record()
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


def test_tune_report_states_the_suggestions_the_peaks_and_the_failure():
    text = render_tune_report(tune_record())
    assert "| batch size (`Tuner.scale_batch_size`, power mode) | **64** |" in text
    assert "**2.50e-03**" in text
    assert f"![learning-rate finder]({plots.LR_PNG})" in text and f"![batch-size sweep]({plots.SWEEP_PNG})" in text
    assert "Throughput peaks at batch 64 (1,500 samples/s)" in text
    assert "peaks at batch 16 (52.0%)" in text
    assert "| 128 | **out-of-memory** |" in text and "| 256 | **not-run** |" in text
    assert "Batch 128 did not fit in memory, so the sweep stopped there (256 not run)." in text
    assert "test fault" in text


def test_convergence_report_shows_time_to_accuracy_or_target_not_reached():
    reached, missed = convergence_record(), convergence_record("gpu", "GPU", reached=False)
    for r in (reached, missed):
        r["metrics"]["convergence"].update(
            epochs_run=3, best_val_acc=0.71, test_acc=0.7, epochs_to_accuracy=2 if r is reached else None,
            samples_per_s=1000.0, stopped_early=False, max_epochs=3, best_val_loss=0.9, best_val_acc_epoch=3,
            test_loss=0.8, test_samples=192, test_weights="best epoch", batch_size=16, lr=1e-3,
            precision="32-true", train_s=12.0, fit_wall_s=15.2, tensorboard_dir=f"tensorboard/{r['device']['name']}",
            time_to_accuracy_train_s=8.0 if r is reached else None,
            early_stopping={"monitor": "val_loss", "mode": "min", "patience": 3})
        r.update(reason="", environment={})
    missed["metrics"]["convergence"]["target_reached"] = False
    table = convergence_table([reached, missed])
    assert "| 10.1 s |" in table and "target not reached (best 71.0%)" in table
    text = render_convergence_report({"run_id": "r1", "status": "complete", "command": []}, [reached, missed])
    assert "Every device is drawn on the same axes." in text
    for name in plots.CURVE_PNGS.values():
        assert f"]({name})" in text
    assert "| 2 | 1.0000 | 60.0% | 0.9000 | 68.0% | 10.1 |" in text.replace(" ★", "")
    assert "tensorboard/gpu" in text
