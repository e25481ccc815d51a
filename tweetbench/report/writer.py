"""Thin writers: load runs from disk, render them with the pure renderers, write atomically."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tweetbench.analysis.ab import SIDES, ABComparison, compare_ab
from tweetbench.errors import ResultsError, UsageError
from tweetbench.records import DeviceResult, read_result
from tweetbench.records.files import ensure_writable_dir, locked, write_atomic
from tweetbench.records.run import (
    AB_DIR,
    AB_GATE,
    AB_SIDES,
    R_AB,
    R_KIND,
    R_RUN_ID,
    R_SCENARIO,
    RUN_META,
    earlier_runs,
    latest_run_dir,
    load_run,
    read_meta,
    result_files,
)
from tweetbench.records.tune import TUNE_FILE, TUNE_REPORT, read_tune
from tweetbench.report.ab import render_ab_report
from tweetbench.report.charts import SUMMARY_PREFIX, device_rows, render_charts
from tweetbench.report.markdown import render_run_report, render_summary
from tweetbench.report.plots import write_convergence_plots, write_tune_plots
from tweetbench.report.profile_plots import write_profile_plots
from tweetbench.report.pytest_benchmark import SAVED, fold_saved, read_pytest_benchmark
from tweetbench.report.serving_plot import write_serving_plots
from tweetbench.report.tune import render_tune_report
from tweetbench.report.variants import render_variants

REPORT = "report.md"
SUMMARY = "summary.md"
VARIANTS = "variants.md"


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
    charts: dict[str, bytes] = {}  # summary.md's PNGs, drawn before taking the lock
    if meta.get(R_SCENARIO) == "convergence":
        write_convergence_plots(records, run_dir)
    elif meta.get(R_SCENARIO) == "serve":
        write_serving_plots(records, run_dir)
    else:
        charts = render_charts(device_rows(records), SUMMARY_PREFIX)
        write_profile_plots(records, run_dir)
    write_atomic(run_dir / REPORT, render_run_report(meta, records))
    with locked(out):
        for name, png in charts.items():
            write_atomic(out / name, png)
        summary = render_summary(meta, records, earlier_runs(out, meta[R_RUN_ID]))
        write_atomic(out / SUMMARY, fold_saved(out, summary))  # keeps a folded-in pytest-benchmark section
        write_atomic(out / VARIANTS, render_variants_page(out))


def render_variants_page(out: Path) -> str:
    """variants.md: the newest result of every workload variant on every device, from every readable run."""
    records = []
    for run in earlier_runs(out, exclude=""):
        try:
            run_records = [r.to_dict() for r in load_run(out / run[R_RUN_ID])[1]]
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


def fold_into_summary(out: Path, source: Path, run_dir: Path | None = None) -> Path:
    """Validate ``source``, keep it as ``<out>/pytest-benchmark.json`` and rewrite ``<out>/summary.md``."""
    data = read_pytest_benchmark(source)
    ensure_writable_dir(out)
    write_atomic(out / SAVED, json.dumps(data, indent=2, allow_nan=False) + "\n")
    if run_dir is not None or earlier_runs(out, exclude=""):
        regenerate(out, run_dir)  # renders the summary, which folds the kept file in
    else:
        with locked(out):
            write_atomic(out / SUMMARY, fold_saved(out, "# tweetbench summary\n\nNo tweetbench run yet.\n"))
    return out / SUMMARY


def write_tune_outputs(run_dir: Path, record: Mapping[str, Any]) -> list[Path]:
    """Write ``tune.json``, the PNGs and ``tune.md`` (rendered from the record alone)."""
    write_atomic(run_dir / TUNE_FILE, json.dumps(record, indent=2, allow_nan=False) + "\n")
    written = write_tune_plots(record, run_dir)
    write_atomic(run_dir / TUNE_REPORT, render_tune_report(record))
    return [run_dir / TUNE_FILE, *written, run_dir / TUNE_REPORT]


def regenerate_tune(run_dir: Path) -> Path:
    """Re-render a tune run's report and PNGs from its ``tune.json``."""
    write_tune_outputs(run_dir, read_tune(run_dir / TUNE_FILE))
    return run_dir / TUNE_REPORT


def is_ab_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds an interleaved A/B run (``tweetbench ab``)."""
    return (run_dir / RUN_META).is_file() and read_meta(run_dir).get(R_KIND) == "ab"


def load_ab(run_dir: Path) -> tuple[dict[str, Any], ABComparison]:
    """An A/B run's run.json and its comparison, from each side's result file (``<side dir>/<device>.json``)."""
    meta = read_meta(run_dir)
    section = meta[R_AB]
    records: dict[str, dict[str, Any] | None] = {}
    for side in SIDES:
        files = result_files(run_dir / section[AB_SIDES][side][AB_DIR])
        if len(files) > 1:
            raise ResultsError(f"{run_dir / section[AB_SIDES][side][AB_DIR]} holds {len(files)} results; an A/B "
                               "side holds one")
        records[side] = read_result(files[0]).to_dict() if files else None
    return meta, compare_ab(section, records, section.get(AB_GATE))


def regenerate_ab(run_dir: Path) -> Path:
    """Write (or re-render) an A/B run's report.md from its run.json and side results."""
    meta, ab = load_ab(run_dir)
    with reporting_on(run_dir):
        write_atomic(run_dir / REPORT, render_ab_report(meta, ab))
    return run_dir / REPORT
