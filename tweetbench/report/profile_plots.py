"""The run report's pictures of where the time goes, drawn from result records alone (matplotlib, Agg).

Three PNGs under the run's ``plots/``:

- the training step's breakdown (SimpleProfiler's parts) as one stacked bar per device;
- the operator groups (PyTorchProfiler) per device, a stacked bar for the training step and one
  for each traced predict batch size;
- a histogram of the measured training steps per device, with p50 and p99 marked.

``planned_plots`` says which of them the records have data for, without drawing, so that the
Markdown renderer can link them; ``write_profile_plots`` draws and writes them atomically.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import colormaps  # noqa: E402 (after choosing the backend)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tweetbench.analysis.breakdown import PART_LABELS, PARTS  # noqa: E402
from tweetbench.analysis.operators import GROUP_LABELS, GROUPS  # noqa: E402
from tweetbench.records import K_BREAKDOWN, K_DEVICE, K_METRICS, Record, lookup  # noqa: E402
from tweetbench.records.files import write_atomic  # noqa: E402


BREAKDOWN_PNG = "plots/profile-breakdown.png"
OPERATORS_PNG = "plots/profile-operators.png"
STEP_TIMES_PNG = "plots/profile-step-times.png"
DPI = 110
# tab20 holds ten hues, each dark then light: a part's forward takes the dark one, its backward the light one.
_TAB20 = {"embedding": 0, "embedding_backward": 1, "lstm": 2, "lstm_backward": 3, "pooling": 4,
          "pooling_backward": 5, "optimizer": 6, "head": 8, "head_backward": 9, "loss": 10, "loss_backward": 11,
          "other": 14, "backward_other": 15, "data": 16, "copies": 18}
PART_COLORS = dict(zip(PARTS, ("tab:olive", "tab:cyan", "tab:blue", "tab:orange", "tab:red", "tab:gray")))


def _short(label: str) -> str:
    return label.split(" (")[0]


def _with_breakdown(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if isinstance(lookup(r, K_BREAKDOWN, "parts"), Mapping)]


def _with_operators(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if lookup(r, K_BREAKDOWN, "operators")]


def _with_steps(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if lookup(r, K_METRICS, "training", "raw_step_s")]


def planned_plots(records: Sequence[Record]) -> list[str]:
    """The PNGs (paths relative to the run directory) that ``write_profile_plots`` draws for these records."""
    return [png for png, rows in ((BREAKDOWN_PNG, _with_breakdown(records)), (OPERATORS_PNG, _with_operators(records)),
                                  (STEP_TIMES_PNG, _with_steps(records))) if rows]


def _save(fig: Figure, path: Path) -> Path:
    png = io.BytesIO()
    # No timestamp in the PNG: the same records give the same bytes.
    fig.savefig(png, dpi=DPI, format="png", metadata={"Software": None})
    write_atomic(path, png.getvalue())
    return path


def _stacked(ax: Axes, rows: Sequence[tuple[str, Mapping[str, float], str]], keys: Sequence[str],
             colors: Mapping[str, Any], labels: Mapping[str, str]) -> None:
    """One horizontal bar per row, its shares (0..1 per key) stacked left to right, each >= 6% labelled."""
    for y, (_label, shares, _note) in enumerate(rows):
        left = 0.0
        for key in keys:
            share = shares.get(key, 0.0) * 100
            ax.barh(y, share, left=left, color=colors[key], edgecolor="white", linewidth=0.5,
                    label=_short(labels[key]) if y == 0 else None)
            if share >= 6:
                ax.text(left + share / 2, y, f"{share:.0f}%", ha="center", va="center", fontsize=8)
            left += share
    ax.set_yticks(range(len(rows)), [textwrap.fill(label, 44) + (f"\n{note}" if note else "")
                                     for label, _s, note in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the step (%)")
    ax.grid(True, axis="x", alpha=0.3)


def _bars_figure(rows: int, keys: int, ncol: int, width: float) -> tuple[Figure, Axes, float]:
    """A figure sized for ``rows`` bars and a legend of ``keys`` entries in ``ncol`` columns below them."""
    legend = 0.1 + 0.2 * -(-keys // ncol)
    fig = Figure(figsize=(width, 1.1 + 0.7 * max(rows, 2) + legend))
    return fig, fig.add_subplot(), legend


def _legend_below(fig: Figure, ax: Axes, ncol: int, legend_inches: float) -> None:
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=ncol, fontsize=8, frameon=False)


def plot_breakdown(records: Sequence[Record], path: Path) -> Path:
    """SimpleProfiler's parts of a training step, one stacked bar per device."""
    rows = [(r[K_DEVICE]["label"], {p: r[K_BREAKDOWN]["parts"][p]["share"] for p in PARTS},
             f"{r[K_BREAKDOWN]['parts_step_ms']:.2f} ms per step") for r in _with_breakdown(records)]
    fig, ax, legend = _bars_figure(len(rows), len(PARTS), 3, 8)
    _stacked(ax, rows, PARTS, PART_COLORS, PART_LABELS)
    fig.suptitle("Where a training step goes (SimpleProfiler, non-overlapping parts)", fontsize=10)
    _legend_below(fig, ax, 3, legend)
    return _save(fig, path)


def _operator_rows(r: Record) -> list[tuple[str, Mapping[str, float], str]]:
    rows = []
    for name, entry in r[K_BREAKDOWN]["operators"].items():
        key = "device_share" if entry.get("basis") == "device" else "share"
        what = "training step" if name == "training" else f"batch-{name.removeprefix('predict_b')} predict"
        basis = "device time" if key == "device_share" else "host time"
        rows.append((r[K_DEVICE]["label"], {g: entry["groups"][g].get(key, 0.0) for g in GROUPS},
                     f"{what}: {entry['mean_step_ms']:.2f} ms, {basis}"))
    return rows


def plot_operator_groups(records: Sequence[Record], path: Path) -> Path:
    """PyTorchProfiler's operator groups: per device, the training step and each traced predict batch."""
    rows = [row for r in _with_operators(records) for row in _operator_rows(r)]
    fig, ax, legend = _bars_figure(len(rows), len(GROUPS), 5, 9)
    _stacked(ax, rows, GROUPS, {g: colormaps["tab20"](i) for g, i in _TAB20.items()}, GROUP_LABELS)
    fig.suptitle("Where the time goes, by part of the model (PyTorchProfiler operators)", fontsize=10)
    _legend_below(fig, ax, 5, legend)
    return _save(fig, path)


def plot_step_times(records: Sequence[Record], path: Path) -> Path:
    """A histogram of each device's measured training steps, p50 and p99 marked."""
    rows = _with_steps(records)
    fig = Figure(figsize=(8, 0.6 + 2.6 * len(rows)))
    for i, r in enumerate(rows, 1):
        ax = fig.add_subplot(len(rows), 1, i)
        train = r[K_METRICS]["training"]
        ax.hist([s * 1e3 for s in train["raw_step_s"]], bins="auto", color="tab:blue", alpha=0.8)
        step = train.get("step_ms") or {}
        marks = []
        for key, style, word in (("p50", "-", "solid"), ("p99", "--", "dashed")):
            if step.get(key) is not None:
                ax.axvline(step[key], color="tab:red", linestyle=style)
                marks.append(f"{key} {step[key]:.2f} ms ({word})")
        # The percentiles in the title, where no legend can cover a bar.
        ax.set_title(f"{r[K_DEVICE]['label']}\n{len(train['raw_step_s']):,} measured training steps; "
                     + ", ".join(marks), fontsize=9)
        ax.set_ylabel("steps")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    fig.axes[-1].set_xlabel("step time (ms)")
    fig.tight_layout()
    return _save(fig, path)


def write_profile_plots(records: Sequence[Record], run_dir: Path) -> list[Path]:
    """Draw every planned PNG under ``run_dir``."""
    draw = {BREAKDOWN_PNG: plot_breakdown, OPERATORS_PNG: plot_operator_groups, STEP_TIMES_PNG: plot_step_times}
    return [draw[png](records, run_dir / png) for png in planned_plots(records)]
