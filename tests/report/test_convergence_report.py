"""The convergence run's report, from records alone."""


from tweetbench.report import plots
from tweetbench.report.convergence import convergence_table, render_convergence_report


def test_convergence_report_shows_time_to_accuracy_or_target_not_reached(convergence_record):
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
