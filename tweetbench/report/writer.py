"""Thin writers: load runs from disk, render them with the pure renderers, write atomically."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tweetbench.errors import ResultsError
from tweetbench.records import TOOL, DeviceResult, read_result
from tweetbench.report.files import locked, write_atomic
from tweetbench.report.markdown import render_run_report, render_summary

RUN_META = "run.json"
REPORT = "report.md"
SUMMARY = "summary.md"


def read_meta(run_dir: Path) -> dict[str, Any]:
    """A run's ``run.json``, or a ``ResultsError`` saying why it cannot be used."""
    path = run_dir / RUN_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{run_dir} is not a tweetbench run directory (no {RUN_META})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} is unreadable or corrupt ({type(exc).__name__}): rerun 'tweetbench run'") \
            from None
    if not isinstance(meta, dict) or meta.get("tool") != TOOL or "run_id" not in meta:
        raise ResultsError(f"{path} is not a tweetbench run file")
    return meta


def load_run(run_dir: Path) -> tuple[dict[str, Any], list[DeviceResult]]:
    """A run's metadata and its device results, in the order the devices were asked for."""
    meta = read_meta(run_dir)
    results = [read_result(path) for path in sorted(run_dir.glob("*.json")) if path.name != RUN_META]
    order = {name: i for i, name in enumerate(meta.get("devices", []))}
    results.sort(key=lambda r: order.get(r.device, len(order)))
    return meta, results


def earlier_runs(out: Path, exclude: str) -> list[dict[str, Any]]:
    """Metadata of every other readable run under ``out``, newest first."""
    runs = []
    for meta_path in out.glob(f"*/{RUN_META}"):
        try:
            meta = read_meta(meta_path.parent)
        except ResultsError:
            continue
        if meta["run_id"] != exclude:
            runs.append(meta)
    runs.sort(key=lambda m: (m.get("started_at") or 0, m["run_id"]), reverse=True)
    return runs


def latest_run_dir(out: Path) -> Path:
    runs = earlier_runs(out, exclude="")
    if not runs:
        raise ResultsError(f"no tweetbench runs in {out}: run 'tweetbench run' first")
    return out / runs[0]["run_id"]


def write_run_reports(out: Path, run_dir: Path, meta: Mapping[str, Any], results: Sequence[DeviceResult]) -> None:
    """Write the run's report.md, then update results/summary.md under the results lock."""
    records = [r.to_dict() for r in results]
    write_atomic(run_dir / REPORT, render_run_report(meta, records))
    with locked(out):
        write_atomic(out / SUMMARY, render_summary(meta, records, earlier_runs(out, meta["run_id"])))


def regenerate(out: Path, run_dir: Path | None = None) -> Path:
    """Re-render a run's report and the summary from the JSON files (the latest run by default)."""
    run_dir = run_dir or latest_run_dir(out)
    meta, results = load_run(run_dir)
    write_run_reports(out, run_dir, meta, results)
    return run_dir
