"""The study's PNGs, drawn from records alone."""

import copy

import matplotlib.image

from tweetbench.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_width=500):
    assert path.read_bytes()[:8] == PNG_MAGIC
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= min_width and height >= 300


def test_batch_sweep_plot_draws_throughput_accuracy_and_the_sizes_that_did_not_fit(tmp_path, sweep_record):
    path = plots.plot_batch_sweep(sweep_record(), tmp_path / "sweep.png")
    assert_png(path)


def test_lr_finder_plot_handles_missing_losses(tmp_path):
    losses = [1.4 - i * 0.01 for i in range(23)] + [None]
    lr = {"curve": {"lr": [1e-6 * 10 ** (i / 4) for i in range(24)], "loss": losses},
          "suggested": 1e-4, "batch_size": 32, "workload_lr": 1e-3, "skip_begin": 10}
    assert_png(plots.plot_lr_finder(lr, tmp_path / "lr.png"))


def test_convergence_plots_put_every_device_on_one_plot_and_are_reproducible(tmp_path, convergence_record):
    records = [convergence_record(), convergence_record("gpu", "GPU", reached=False),
               {"device": {"name": "tpu", "label": "TPU"}, "status": "unavailable", "metrics": {}}]
    paths = plots.write_convergence_plots(records, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == sorted(
        [*plots.CURVE_PNGS.values(), plots.TTA_PNG])
    for path in paths:
        assert_png(path)
    first = {p: p.read_bytes() for p in paths}
    plots.write_convergence_plots(copy.deepcopy(records), tmp_path)
    assert all(p.read_bytes() == data for p, data in first.items())  # same record, same bytes


def test_no_converged_device_means_no_plots(tmp_path):
    records = [{"device": {"name": "gpu", "label": "GPU"}, "status": "unavailable", "metrics": {}}]
    assert plots.write_convergence_plots(records, tmp_path) == []
    assert not (tmp_path / plots.PLOTS_DIR).exists()
