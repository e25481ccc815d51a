"""The serving picture: LoadGen's p50/p90/p99 latency against the Server scenario's target QPS, for every point
the search tried (and the overload point), the p99 bound drawn, VALID points filled and INVALID ones crossed.
One PNG per device, drawn from the record alone and written atomically (``report/plots.py``'s conventions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tweetbench.records import K_DEVICE, K_METRICS
from tweetbench.report.plots import Figure, _save
from tweetbench.report.serving import SERVING_PNG, served

PERCENTILES = (("p50_s", "p50", ":"), ("p90_s", "p90", "--"), ("p99_s", "p99", "-"))
COLORS = {"inprocess": "tab:blue", "litserve": "tab:orange"}


def _points(server: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    points = list((server.get("search") or {}).get("points") or [])
    return sorted((p for p in points if p.get("target_qps")), key=lambda p: p["target_qps"])


def _overload_and_max(ax: Any, server: Mapping[str, Any], color: str, name: str) -> None:
    """The overload point (its p99, apart from the search's curve) and the found maximum as a vertical line."""
    over = server.get("overload") or {}
    if over.get("target_qps") and (over.get("latency_s") or {}).get("p99_s"):
        ax.scatter([over["target_qps"]], [over["latency_s"]["p99_s"] * 1000], marker="D", zorder=3,
                   color="tab:red" if not over.get("valid") else color,
                   label=f"{name} overload p99 ({over.get('validity')})")
    if server.get("max_qps"):
        ax.axvline(server["max_qps"], color=color, linewidth=0.8, alpha=0.6, linestyle="-.",
                   label=f"{name} max {server['max_qps']:,.0f} QPS")


def plot_serving(record: Mapping[str, Any], path: Path) -> Path | None:
    """Latency percentiles against target QPS for each server of one device; None if it has no Server point."""
    servers = {name: _points(server) for name, server in served(record).items()}
    servers = {name: points for name, points in servers.items() if points}
    if not servers:
        return None
    fig = Figure(figsize=(7.5, 4.5 + 0.5 * len(servers)), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    bound = (record[K_METRICS]["serving"].get("latency_bound_s") or 0) * 1000
    for name, points in servers.items():
        color = COLORS.get(name, "tab:gray")
        xs = [p["target_qps"] for p in points]
        for key, label, style in PERCENTILES:
            ys = [((p.get("latency_s") or {}).get(key) or float("nan")) * 1000 for p in points]
            ax.plot(xs, ys, style, color=color, label=f"{name} {label}", linewidth=1.2)
        p99 = [((p.get("latency_s") or {}).get("p99_s") or float("nan")) * 1000 for p in points]
        valid = [bool(p.get("valid")) for p in points]
        ax.scatter([x for x, v in zip(xs, valid) if v], [y for y, v in zip(p99, valid) if v], marker="o",
                   color=color, zorder=3, label=f"{name} VALID")
        ax.scatter([x for x, v in zip(xs, valid) if not v], [y for y, v in zip(p99, valid) if not v], marker="x",
                   color="tab:red", zorder=3, label=f"{name} INVALID")
        _overload_and_max(ax, served(record)[name], color, name)
    if bound:
        ax.axhline(bound, color="black", linewidth=1, label=f"p99 bound {bound:.0f} ms")
    ax.set_yscale("log")
    ax.set_xlabel("Server target QPS (Poisson arrivals)")
    ax.set_ylabel("latency (ms, LoadGen, log scale)")
    ax.set_title(f"{record[K_DEVICE]['label']}: latency against load")
    # Below the axes, never over a point (an overload point sits high on the left with a slow server).
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    ax.grid(True, alpha=0.3)
    return _save(fig, path, tight=False)  # constrained layout: it makes room for the legend below


def write_serving_plots(records: Sequence[Mapping[str, Any]], run_dir: Path) -> list[Path]:
    """One serving PNG per device that served, under the run directory (the report links to them)."""
    paths = []
    for record in records:
        path = plot_serving(record, run_dir / SERVING_PNG.format(device=record[K_DEVICE]["name"].replace(":", "_")))
        if path is not None:
            paths.append(path)
    return paths
