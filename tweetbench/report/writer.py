"""Thin writers: load runs from disk, render them with the pure renderers, write atomically."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tweetbench.errors import ResultsError, UsageError
from tweetbench.records import TOOL, DeviceResult, read_result
from tweetbench.report.files import locked, write_atomic
from tweetbench.report.markdown import render_run_report, render_summary
from tweetbench.report.pytest_benchmark import fold_saved

RUN_META = "run.json"
REPORT = "report.md"
SUMMARY = "summary.md"
VARIANTS = "variants.md"
# The run ids tweetbench makes (see suite.new_run_dir); anything else in a run.json is refused, so that
# a crafted run id can never lead a path or a Markdown link out of the results directory.
RUN_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,99}")
RUN_STATUSES = ("running", "complete", "incomplete")


def _meta_problem(meta: object) -> str:
    """What makes a parsed run.json unusable, or '' (checks every field the reports read)."""
    if not isinstance(meta, dict) or meta.get("tool") != TOOL:
        return "it is not a tweetbench run file"
    run_id = meta.get("run_id")
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        return "its run_id is missing or not one tweetbench makes"
    if meta.get("status") not in RUN_STATUSES:
        return f"its status is not one of {', '.join(RUN_STATUSES)}"
    for key in ("started_at", "finished_at"):
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or not 0 <= value < 1e11):
            return f"its {key} is not a time"
    for key in ("devices", "command"):
        value = meta.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return f"its {key} is not a list of strings"
    for key in ("workload", "preset", "scenario"):
        if not isinstance(meta.get(key, ""), str):
            return f"its {key} is not a string"
    return ""


def read_meta(run_dir: Path) -> dict[str, Any]:
    """A run's ``run.json``, or a ``ResultsError`` saying why it cannot be used."""
    path = run_dir / RUN_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{run_dir} is not a tweetbench run directory (no {RUN_META})") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ResultsError(f"{path} is unreadable or corrupt ({type(exc).__name__}): rerun 'tweetbench run'") \
            from None
    problem = _meta_problem(meta)
    if problem:
        raise ResultsError(f"{path} cannot be used: {problem}")
    if meta["run_id"] != run_dir.resolve().name:
        # The summary links each run as <run_id>/report.md, so a renamed run directory would be a dead link.
        raise ResultsError(f"{path} is run {meta['run_id']!r} but lies in {run_dir.resolve().name!r}: "
                           "give the run directory back its name")
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


def resolve_run_dir(out: Path, run_dir: Path) -> Path:
    """``run_dir`` as a directory directly inside ``out`` (a bare run id is looked up there).

    A path with ``..`` or one that leads outside ``out`` (a symlink included) is a ``UsageError``:
    ``report`` writes into the run directory and into ``out``, and nowhere else.
    """
    if ".." in run_dir.parts:
        raise UsageError(f"run directory {run_dir} contains '..': name a run directory inside {out}")
    if len(run_dir.parts) == 1 and not run_dir.exists() and (out / run_dir).exists():
        run_dir = out / run_dir
    if run_dir.resolve().parent != out.resolve():
        raise UsageError(f"run directory {run_dir} is not inside the results directory {out}: "
                         f"pass --out {run_dir.parent} (or name a run in {out})")
    return run_dir


# What a renderer raises on a record that passed the schema but is not what tweetbench writes.
RENDER_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)


@contextlib.contextmanager
def reporting_on(where: Path | str) -> Iterator[None]:
    """Turn a renderer's failure on results read from disk into a one-line ``ResultsError``.

    The schema checks what every result must hold, not every key each report section reads; a
    hand-edited or foreign file can pass it and still lack one. Such a file gets this error, not a traceback.
    """
    try:
        yield
    except RENDER_ERRORS as exc:
        raise ResultsError(f"{where} holds results tweetbench cannot report on ({type(exc).__name__}: {exc}): "
                           "were they edited by hand? rerun 'tweetbench run'") from None


def write_run_reports(out: Path, run_dir: Path, meta: Mapping[str, Any], results: Sequence[DeviceResult]) -> None:
    """Write the run's report.md, then update results/summary.md under the results lock."""
    records = [r.to_dict() for r in results]
    if meta.get("scenario") == "convergence":
        from tweetbench.report.plots import write_convergence_plots

        write_convergence_plots(records, run_dir)
    write_atomic(run_dir / REPORT, render_run_report(meta, records))
    with locked(out):
        summary = render_summary(meta, records, earlier_runs(out, meta["run_id"]))
        write_atomic(out / SUMMARY, fold_saved(out, summary))  # keeps a folded-in pytest-benchmark section
        write_atomic(out / VARIANTS, render_variants_page(out))


def render_variants_page(out: Path) -> str:
    """variants.md: the newest result of every workload variant on every device, from every readable run."""
    from tweetbench.report.study import render_variants

    records = []
    for run in earlier_runs(out, exclude=""):
        try:
            run_records = [r.to_dict() for r in load_run(out / run["run_id"])[1]]
            render_variants(run_records)  # an earlier run this page cannot show must not stop this one
        except (ResultsError, *RENDER_ERRORS):
            continue  # a run that cannot be read is reported by 'tweetbench report <run>', not here
        records += run_records
    return render_variants(records)


def regenerate(out: Path, run_dir: Path | None = None) -> Path:
    """Re-render a run's report and the summary from the JSON files (the latest run by default)."""
    run_dir = latest_run_dir(out) if run_dir is None else resolve_run_dir(out, run_dir)
    meta, results = load_run(run_dir)
    with reporting_on(run_dir):
        write_run_reports(out, run_dir, meta, results)
    return run_dir
