"""PNG plots drawn from records alone (matplotlib, Agg): the tune run's and the convergence run's figures.

Each ``plot_*`` function takes plain data from a record and a path, draws one figure on its own
``Figure`` (no pyplot state), saves it and returns the path. The ``write_*`` functions only choose
the file names, which the Markdown renderers in ``tune.py`` and ``convergence.py`` link to.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402 (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tweetbench.records import K_DEVICE, K_METRICS, K_WORKLOAD, Record  # noqa: E402
from tweetbench.records.files import write_atomic  # noqa: E402


PLOTS_DIR = "plots"
LR_PNG = f"{PLOTS_DIR}/lr_find.png"
SWEEP_PNG = f"{PLOTS_DIR}/batch_sweep.png"
CURVE_LABELS = {
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "train_acc": "training accuracy",
    "val_acc": "validation accuracy",
}
CURVE_PNGS = {key: f"{PLOTS_DIR}/{key}.png" for key in CURVE_LABELS}
TTA_PNG = f"{PLOTS_DIR}/time_to_accuracy.png"
DPI = 110


def _save(fig: Figure, path: Path, *, tight: bool = True) -> Path:
    """Write the figure as a PNG, atomically: a reader never sees half a file, and an existing plot
    stays whole if rendering fails."""
    if tight:
        fig.tight_layout()
    png = io.BytesIO()
    # No timestamp in the PNG: re-rendering the same record gives the same bytes.
    fig.savefig(png, dpi=DPI, format="png", metadata={"Software": None})
    write_atomic(path, png.getvalue())
    return path


def _xy(xs: Sequence[Any], ys: Sequence[Any]) -> tuple[list[float], list[float]]:
    """The pairs where both values are present (missing values are None in records)."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


# -- tune ---------------------------------------------------------------------------------------------
def plot_lr_finder(lr: Record, path: Path, title: str = "") -> Path:
    """Loss against learning rate (log scale), with the suggested rate and the workload's rate marked."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    xs, ys = _xy(lr["curve"]["lr"], lr["curve"]["loss"])
    skip = int(lr.get("skip_begin", 0))
    ax.plot(xs[skip:], ys[skip:], color="tab:blue", label="smoothed training loss")
    if skip:
        # Lightning's bias-corrected smoothing starts low; its suggestion ignores these points, so grey them.
        ax.plot(xs[:skip + 1], ys[:skip + 1], color="lightgrey",
                label=f"first {skip} steps (ignored by the suggestion)")
        tail = ys[skip:] or ys
        spread = (max(tail) - min(tail)) or 1.0
        ax.set_ylim(min(tail) - 0.1 * spread, max(tail) + 0.15 * spread)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    suggested = lr.get("suggested")
    if suggested is not None and xs:
        nearest = min(range(len(xs)), key=lambda i: abs(xs[i] - suggested))
        ax.plot([xs[nearest]], [ys[nearest]], "o", color="tab:red", markersize=9,
                label=f"suggested {suggested:.2e} (steepest descent)")
    if lr.get("workload_lr"):
        ax.axvline(lr["workload_lr"], color="grey", linestyle=":", label=f"workload lr {lr['workload_lr']:.0e}")
    ax.set_title(title or f"learning-rate finder, batch {lr['batch_size']}")
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def plot_batch_sweep(sweep: Record, path: Path, title: str = "") -> Path:
    """Throughput and validation accuracy against batch size, peaks marked, sizes that did not fit flagged."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    acc_ax = ax.twinx()
    ok = [p for p in sweep["points"] if p["status"] == "ok"]
    sizes = [p["batch_size"] for p in ok]
    ax.plot(sizes, [p["samples_per_s"] for p in ok], "o-", color="tab:blue", label="throughput (samples/s)")
    xs, accs = _xy(sizes, [p.get("val_acc") for p in ok])
    acc_ax.plot(xs, accs, "s--", color="tab:orange", label="validation accuracy after the budget")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sweep["sizes"], [str(s) for s in sweep["sizes"]])
    ax.set_xlabel("batch size")
    ax.set_ylabel("training samples / s", color="tab:blue")
    acc_ax.set_ylabel("validation accuracy", color="tab:orange")
    # Peaks as starred points named in the legend: text labels collide with the other curve.
    peak = sweep.get("throughput_peak")
    if peak:
        ax.plot([peak["batch_size"]], [peak["samples_per_s"]], "*", color="tab:blue", markersize=16,
                markeredgecolor="black", label=f"throughput peak: {peak['samples_per_s']:,.0f}/s at batch "
                                               f"{peak['batch_size']}")
    best = sweep.get("accuracy_peak")
    if best:
        acc_ax.plot([best["batch_size"]], [best["val_acc"]], "*", color="tab:orange", markersize=16,
                    markeredgecolor="black", label=f"accuracy peak: {best['val_acc']:.3f} at batch {best['batch_size']}")
    if accs:
        spread = (max(accs) - min(accs)) or 0.05
        acc_ax.set_ylim(min(accs) - 0.35 * spread, max(accs) + 0.15 * spread)
    for point in sweep["points"]:
        if point["status"] == "out-of-memory":
            ax.axvline(point["batch_size"], color="tab:red", linestyle="--")
            ax.text(point["batch_size"], 0.5, " out of memory", transform=ax.get_xaxis_transform(),
                    color="tab:red", rotation=90, va="center", fontsize=9)
        elif point["status"] == "not-run":
            ax.text(point["batch_size"], 0.5, " not run", transform=ax.get_xaxis_transform(),
                    color="grey", rotation=90, va="center", fontsize=9)
    ax.set_xlim(min(sweep["sizes"]) / 1.4, max(sweep["sizes"]) * 1.4)
    if ok:
        ax.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()
    acc_handles = acc_ax.get_legend_handles_labels()
    ax.set_title(title or f"batch-size sweep: {sweep['budget_samples']:,} samples per size at lr {sweep['lr']:g}")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    # Below the axes, where it covers no point.
    fig.subplots_adjust(bottom=0.24)
    fig.legend(handles[0] + acc_handles[0], handles[1] + acc_handles[1], loc="lower center", ncol=2, fontsize=8,
               frameon=False)
    return _save(fig, path, tight=False)


def write_tune_plots(record: Record, run_dir: Path) -> list[Path]:
    """The tune run's two PNGs, under ``run_dir``."""
    where = f"{record[K_WORKLOAD]['name']} on {record[K_DEVICE]['label']}"
    lr = record["finders"]["lr"]
    return [
        plot_lr_finder(lr, run_dir / LR_PNG, f"learning-rate finder: {where}, batch {lr['batch_size']}"),
        plot_batch_sweep(record["sweep"], run_dir / SWEEP_PNG,
                         f"batch-size sweep: {where}\n{record['sweep']['budget_samples']:,} samples per size, "
                         f"lr {record['sweep']['lr']:g}"),
    ]


# -- convergence --------------------------------------------------------------------------------------
def _converged(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if (r.get(K_METRICS) or {}).get("convergence")]


def plot_curve(records: Sequence[Record], key: str, path: Path) -> Path:
    """One per-epoch curve (e.g. ``val_acc``) with a line per device, so devices compare on one plot."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    for r in _converged(records):
        conv = r[K_METRICS]["convergence"]
        xs, ys = _xy(conv["curves"]["epoch"], conv["curves"][key])
        line = ax.plot(xs, ys, "o-", markersize=3, label=r[K_DEVICE]["label"])[0]
        best = conv.get("best_epoch")
        if best in xs:
            ax.plot([best], [ys[xs.index(best)]], "*", markersize=12, color=line.get_color())
    if key == "val_acc":
        targets = {r[K_METRICS]["convergence"]["target_accuracy"] for r in _converged(records)}
        for target in sorted(targets):
            ax.axhline(target, color="grey", linestyle="--", label=f"target {target:.2f}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(CURVE_LABELS[key])
    names = sorted({r[K_WORKLOAD]["name"] for r in _converged(records)})
    ax.set_title(f"{CURVE_LABELS[key]} per epoch — {', '.join(names)} (★ best epoch)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_time_to_accuracy(records: Sequence[Record], path: Path) -> Path:
    """Validation accuracy against wall time per device, with the target and each device's time to reach it."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    for r in _converged(records):
        conv = r[K_METRICS]["convergence"]
        xs, ys = _xy(conv["curves"]["wall_s"], conv["curves"]["val_acc"])
        line = ax.plot(xs, ys, "o-", markersize=3, label=r[K_DEVICE]["label"])[0]
        if conv.get("time_to_accuracy_s") is not None:
            ax.axvline(conv["time_to_accuracy_s"], color=line.get_color(), linestyle=":",
                       label=f"{r[K_DEVICE]['name']}: target at {conv['time_to_accuracy_s']:.1f} s")
    for target in sorted({r[K_METRICS]["convergence"]["target_accuracy"] for r in _converged(records)}):
        ax.axhline(target, color="grey", linestyle="--", label=f"target {target:.2f}")
    ax.set_xlabel("wall time since the first training step (s), validation included")
    ax.set_ylabel("validation accuracy")
    ax.set_title("time to accuracy")
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def write_convergence_plots(records: Sequence[Record], run_dir: Path) -> list[Path]:
    """The four curves and the time-to-accuracy plot, or nothing when no device converged a model."""
    if not _converged(records):
        return []
    paths = [plot_curve(records, key, run_dir / name) for key, name in CURVE_PNGS.items()]
    paths.append(plot_time_to_accuracy(records, run_dir / TTA_PNG))
    return paths
