"""A summary's pictures, drawn from the result records alone (matplotlib, Agg): one horizontal bar per row.

Four charts: training samples/s, batch-1 latency (p50 bars with p90 and p99 whiskers), batched
inference samples/s, and the training step's breakdown as stacked shares. A row is a (label, record)
pair, so the single-run summary (a row per device) and the merged one (a row per host, device and
variant) draw the same way. A row without the figure (a device that was unavailable, a run without a
profile) keeps its place and says why, so no chart silently drops a device.

``chart_names`` says which charts a set of rows has data for, without drawing, so that a Markdown
renderer can link them; ``render_charts`` draws them into PNG bytes; the writer puts those on disk.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402 (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import StrMethodFormatter  # noqa: E402

from tweetbench.analysis.breakdown import PART_LABELS, PARTS  # noqa: E402
from tweetbench.records import (  # noqa: E402
    K_BREAKDOWN,
    K_DEVICE,
    K_METRICS,
    K_STATUS,
    K_WORKLOAD,
    Record,
    lookup,
)

ChartRow = tuple[str, Record]  # the row's label and its result record
SUMMARY_PREFIX = "summary"  # summary.md's charts: summary-training.png, ... next to it
DPI = 110
BAR_COLOR = "tab:blue"
MISSING_COLOR = "dimgrey"
# Inches kept below the axes for a figure legend of one row (latency) and of two rows (the six step parts).
LATENCY_LEGEND = 0.35
BREAKDOWN_LEGEND = 0.55


def _training(r: Record) -> float | None:
    return lookup(r, K_METRICS, "training", "samples_per_s")


def _latency(r: Record) -> Mapping[str, float] | None:
    return lookup(r, K_METRICS, "inference", "latency_batch1_ms")


def _offline(r: Record) -> float | None:
    return lookup(r, K_METRICS, "inference", "offline", "samples_per_s")


def _breakdown(r: Record) -> Mapping[str, Any] | None:
    parts = lookup(r, K_BREAKDOWN, "parts")
    return r[K_BREAKDOWN] if isinstance(parts, Mapping) and all(p in parts for p in PARTS) else None


def _why_missing(r: Record) -> str:
    """The text a row without the figure shows in its place."""
    return r[K_STATUS] if r[K_STATUS] != "ok" else "not measured"


def _workloads(rows: Sequence[ChartRow]) -> str:
    return ", ".join(sorted({str(r[K_WORKLOAD]["name"]) for _, r in rows}))


def _axes(rows: Sequence[ChartRow], title: str, *, extra_height: float = 0.0) -> tuple[Figure, Axes]:
    """A figure whose height grows with the rows, one horizontal band per row, the first on top, and whose
    width grows with the longest row label, so that the plot keeps about 6 inches beside the labels."""
    longest = max((len(label) for label, _ in rows), default=0)
    fig = Figure(figsize=(max(8.0, 6.4 + 0.075 * longest), 1.4 + 0.5 * len(rows) + extra_height))
    ax = fig.add_subplot()
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig, ax


def _mark_missing(ax: Axes, y: int, record: Record) -> None:
    ax.text(0, y, f"  {_why_missing(record)}", va="center", ha="left", color=MISSING_COLOR, fontstyle="italic",
            fontsize=9)


def _throughput_bars(rows: Sequence[ChartRow], value: Callable[[Record], float | None], title: str,
                     xlabel: str) -> Figure:
    fig, ax = _axes(rows, title)
    values = [value(r) for _, r in rows]
    top = max((v for v in values if v), default=1.0)
    for y, ((_, record), v) in enumerate(zip(rows, values)):
        if not v:
            _mark_missing(ax, y, record)
            continue
        ax.barh(y, v, color=BAR_COLOR, height=0.6)
        ax.text(v + top * 0.01, y, f"{v:,.0f}", va="center", ha="left", fontsize=9)
    ax.set_xlim(0, top * 1.18)  # room for the value printed after the longest bar
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel(xlabel)
    return fig


def draw_training(rows: Sequence[ChartRow]) -> Figure:
    """Training samples/s per row."""
    return _throughput_bars(rows, _training, f"training throughput — {_workloads(rows)} (higher is better)",
                            "training samples / s")


def draw_offline(rows: Sequence[ChartRow]) -> Figure:
    """Batched inference samples/s per row (batch 256 unless a record says otherwise)."""
    sizes = sorted({lookup(r, K_METRICS, "inference", "offline", "batch_size") for _, r in rows} - {None})
    batch = f"batch-{sizes[0]}" if len(sizes) == 1 else "batched"
    return _throughput_bars(rows, _offline, f"{batch} inference throughput — {_workloads(rows)} (higher is better)",
                            f"{batch} inference samples / s")


def draw_latency(rows: Sequence[ChartRow]) -> Figure:
    """Batch-1 latency per row: a bar to the median, whiskers to p90 (thick) and p99 (thin)."""
    fig, ax = _axes(rows, f"batch-1 latency — {_workloads(rows)} (lower is better)", extra_height=LATENCY_LEGEND)
    top = max((lat["p99"] for _, r in rows if (lat := _latency(r))), default=1.0)
    labelled = False
    for y, (_, record) in enumerate(rows):
        lat = _latency(record)
        if not lat:
            _mark_missing(ax, y, record)
            continue
        p50, p90, p99 = lat["p50"], max(lat["p90"], lat["p50"]), max(lat["p99"], lat["p90"], lat["p50"])
        ax.barh(y, p50, color=BAR_COLOR, height=0.6, label=None if labelled else "p50")
        ax.errorbar([p50], [y], xerr=[[0], [p99 - p50]], fmt="none", ecolor="black", elinewidth=1, capsize=7,
                    label=None if labelled else "p99 whisker")
        ax.errorbar([p50], [y], xerr=[[0], [p90 - p50]], fmt="none", ecolor="tab:orange", elinewidth=3, capsize=4,
                    label=None if labelled else "p90 whisker")
        ax.text(p99 + top * 0.02, y, f"{p50:.3g} / {p90:.3g} / {p99:.3g} ms", va="center", ha="left", fontsize=8)
        labelled = True
    ax.set_xlim(0, top * 1.55)  # room for the p50 / p90 / p99 text after the longest whisker
    ax.set_xlabel("milliseconds per request (p50 / p90 / p99)")
    if labelled:
        # The p99 whisker is drawn first so the thick p90 one lies on top; the legend lists them in order.
        handles = dict(zip(*reversed(ax.get_legend_handles_labels())))
        order = [name for name in ("p50", "p90 whisker", "p99 whisker") if name in handles]
        fig.legend([handles[name] for name in order], order, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def draw_breakdown(rows: Sequence[ChartRow]) -> Figure:
    """Each row's training step as stacked shares of its parts (they add up to 100%), with the step time."""
    fig, ax = _axes(rows, f"where a training step goes — {_workloads(rows)}", extra_height=BREAKDOWN_LEGEND)
    colors = matplotlib.colormaps["tab10"].colors
    labelled = False
    for y, (_, record) in enumerate(rows):
        b = _breakdown(record)
        if b is None:
            _mark_missing(ax, y, record)
            continue
        left = 0.0
        for i, part in enumerate(PARTS):
            share = float(b["parts"][part]["share"]) * 100
            ax.barh(y, share, left=left, color=colors[i], height=0.6, label=None if labelled else PART_LABELS[part])
            if share >= 9:
                ax.text(left + share / 2, y, f"{share:.0f}%", va="center", ha="center", fontsize=8, color="white")
            left += share
        ax.text(101, y, f"{b['parts_step_ms']:.3g} ms", va="center", ha="left", fontsize=8)
        labelled = True
    ax.set_xlim(0, 112)  # room for the step time after the 100% bar
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("share of a training step (%); at the right, the profiled step time")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return fig


@dataclass(frozen=True)
class Chart:
    """One picture of a summary: its file name's stem, its caption, whether a row has its figure, how to draw."""

    name: str
    caption: str
    has_data: Callable[[Record], bool]
    draw: Callable[[Sequence[ChartRow]], Figure]
    legend_height: float = 0.0  # inches at the figure's bottom that its legend takes


CHARTS = (
    Chart("training", "Training samples/s", lambda r: bool(_training(r)), draw_training),
    Chart("latency", "Batch-1 latency p50, with p90 and p99 whiskers", lambda r: bool(_latency(r)), draw_latency,
          LATENCY_LEGEND),
    Chart("batch256", "Batch-256 inference samples/s", lambda r: bool(_offline(r)), draw_offline),
    Chart("breakdown", "Where a training step goes", lambda r: _breakdown(r) is not None, draw_breakdown,
          BREAKDOWN_LEGEND),
)


def chart_file(prefix: str, chart: Chart) -> str:
    """The PNG's file name, e.g. ``summary-training.png``."""
    return f"{prefix}-{chart.name}.png"


def charts_with_data(rows: Sequence[ChartRow]) -> list[Chart]:
    """The charts at least one row has a figure for (none when no device was measured)."""
    return [chart for chart in CHARTS if any(chart.has_data(r) for _, r in rows)]


def charts_section(rows: Sequence[ChartRow], prefix: str) -> list[str]:
    """Markdown lines that show the charts (pure: the same rows give the same links ``render_charts`` draws)."""
    charts = charts_with_data(rows)
    if not charts:
        return []
    lines = ["## Charts", "", "Drawn from the JSON results; a row without the figure says why.", ""]
    for chart in charts:
        lines += [f"![{chart.caption}]({chart_file(prefix, chart)})", ""]
    return lines


def png_bytes(fig: Figure, legend_height: float = 0.0) -> bytes:
    """The figure as PNG bytes, laid out so labels do not overlap, with ``legend_height`` inches kept free
    below the axes for a figure legend."""
    fig.tight_layout()
    if legend_height:
        fig.subplots_adjust(bottom=fig.subplotpars.bottom + legend_height / fig.get_figheight())
    png = io.BytesIO()
    # No timestamp in the PNG: re-rendering the same records gives the same bytes.
    fig.savefig(png, dpi=DPI, format="png", metadata={"Software": None})
    return png.getvalue()


def render_charts(rows: Sequence[ChartRow], prefix: str) -> dict[str, bytes]:
    """{file name: PNG bytes} for every chart with data, drawn from the rows' records alone."""
    return {chart_file(prefix, chart): png_bytes(chart.draw(rows), chart.legend_height)
            for chart in charts_with_data(rows)}


def device_rows(results: Sequence[Record]) -> list[ChartRow]:
    """One row per device of a single run, named as the run names it (``cpu``, ``gpu:1``)."""
    return [(str(r[K_DEVICE]["name"]), r) for r in results]
