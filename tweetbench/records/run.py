"""A run's ``run.json``: what was asked and whether the run completed, written and read only here.

A run directory is ``<out>/<run id>/``; its ``run.json`` names the devices in the order they were
asked for, and every per-device result lies beside it as ``<device file name>.json``.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from tweetbench import __version__
from tweetbench.errors import ResultsError
from tweetbench.records.files import write_atomic
from tweetbench.records.keys import SCHEMA_VERSION, TOOL
from tweetbench.records.result import DeviceResult, read_result

RUN_META = "run.json"
RunStatus = Literal["running", "complete", "incomplete"]
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "complete", "incomplete")
# "run": tweetbench run, its device results beside run.json. "ab": tweetbench ab, an interleaved A/B of one
# device, each side's results in its own folder (R_AB names them), the trials' run order in R_AB too.
RunKind = Literal["run", "ab"]
RUN_KINDS: tuple[RunKind, ...] = ("run", "ab")
# The run ids tweetbench makes (see new_run_dir); anything else in a run.json is refused, so that a
# crafted run id can never lead a path or a Markdown link out of the results directory.
RUN_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,99}")

# run.json's keys.
R_TOOL = "tool"
R_KIND = "kind"
R_SCHEMA_VERSION = "schema_version"
R_VERSION = "tweetbench_version"
R_RUN_ID = "run_id"
R_STATUS = "status"
R_STARTED = "started_at"
R_FINISHED = "finished_at"
R_DEVICES = "devices"
R_WORKLOAD = "workload"
R_PRESET = "preset"
R_SCENARIO = "scenario"
R_COMMAND = "command"
R_REPEATS = "repeats"
R_AB = "ab"
# Inside R_AB.
AB_SIDES = "sides"  # {"A": {...}, "B": {...}}: each side's options as given, its settings and its folder
AB_ORDER = "order"  # the trials' run order, e.g. ["A", "B", "B", "A", ...]
AB_DIR = "dir"  # a side's folder, relative to the run directory
AB_GATE = "fail_on_regression"  # the gate's bound (0.05 = 5%), or None


def new_run_dir(out: Path) -> tuple[str, Path]:
    """A fresh, uniquely named run directory under ``out`` (created exclusively, never reused)."""
    while True:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        path = out / run_id
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return run_id, path


def run_meta(*, run_id: str, started: float, status: RunStatus, devices: Sequence[str], workload: str,
             preset: str, scenario: str, command: Sequence[str], repeats: int, kind: RunKind = "run",
             ab: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The content of a run's ``run.json``; an interleaved A/B run (``kind="ab"``) records its sides and
    run order in ``ab``."""
    meta = {
        R_TOOL: TOOL,
        R_KIND: kind,
        R_SCHEMA_VERSION: SCHEMA_VERSION,
        R_VERSION: __version__,
        R_RUN_ID: run_id,
        R_STATUS: status,
        R_STARTED: started,
        R_FINISHED: None if status == "running" else time.time(),
        R_DEVICES: list(devices),
        R_WORKLOAD: workload,
        R_PRESET: preset,
        R_SCENARIO: scenario,
        R_COMMAND: list(command),
        R_REPEATS: repeats,
    }
    if ab is not None:
        meta[R_AB] = dict(ab)
    return meta


def write_meta(run_dir: Path, meta: dict[str, Any]) -> None:
    """Write ``run.json`` atomically."""
    write_atomic(run_dir / RUN_META, json.dumps(meta, indent=2))


def _meta_problem(meta: object) -> str:
    """What makes a parsed run.json unusable, or '' (checks every field the reports read)."""
    if not isinstance(meta, dict) or meta.get(R_TOOL) != TOOL:
        return "it is not a tweetbench run file"
    run_id = meta.get(R_RUN_ID)
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        return "its run_id is missing or not one tweetbench makes"
    if meta.get(R_STATUS) not in RUN_STATUSES:
        return f"its status is not one of {', '.join(RUN_STATUSES)}"
    if meta.get(R_KIND, "run") not in RUN_KINDS:
        return f"its kind is not one of {', '.join(RUN_KINDS)}"
    if meta.get(R_KIND) == "ab" and not _ab_section_ok(meta.get(R_AB)):
        return f"its {R_AB} section does not name both sides' folders and the run order"
    for key in (R_STARTED, R_FINISHED):
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or not 0 <= value < 1e11):
            return f"its {key} is not a time"
    for key in (R_DEVICES, R_COMMAND):
        value = meta.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return f"its {key} is not a list of strings"
    for key in (R_WORKLOAD, R_PRESET, R_SCENARIO):
        if not isinstance(meta.get(key, ""), str):
            return f"its {key} is not a string"
    return ""


def _ab_section_ok(section: object) -> bool:
    """An A/B section names each side's folder as one plain name (never a path out of the run) and its order."""
    if not isinstance(section, dict) or not isinstance(section.get(AB_SIDES), dict):
        return False
    sides, order = section[AB_SIDES], section.get(AB_ORDER)
    folders = [sides[name].get(AB_DIR) if isinstance(sides.get(name), dict) else None for name in ("A", "B")]
    return (all(isinstance(f, str) and RUN_ID_RE.fullmatch(f) for f in folders)
            and isinstance(order, list) and all(side in ("A", "B") for side in order))


def read_meta(run_dir: Path, *, renamed_ok: bool = False) -> dict[str, Any]:
    """A run's ``run.json``, or a ``ResultsError`` saying why it cannot be used.

    ``renamed_ok``: accept a run directory whose name is not its run id (one copied from another
    machine under a new name, read by ``merge``, which writes no link into it)."""
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
    if not renamed_ok and meta[R_RUN_ID] != run_dir.resolve().name:
        # The summary links each run as <run_id>/report.md, so a renamed run directory would be a dead link.
        raise ResultsError(f"{path} is run {meta[R_RUN_ID]!r} but lies in {run_dir.resolve().name!r}: "
                           "give the run directory back its name")
    return meta


def result_files(run_dir: Path) -> list[Path]:
    """The per-device result files of a run directory (every JSON file beside run.json)."""
    return sorted(path for path in run_dir.glob("*.json") if path.name != RUN_META)


def load_run(run_dir: Path) -> tuple[dict[str, Any], list[DeviceResult]]:
    """A run's metadata and its device results, in the order the devices were asked for."""
    meta = read_meta(run_dir)
    results = [read_result(path) for path in result_files(run_dir)]
    order = {name: i for i, name in enumerate(meta.get(R_DEVICES, []))}
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
        if meta[R_RUN_ID] != exclude:
            runs.append(meta)
    runs.sort(key=lambda m: (m.get(R_STARTED) or 0, m[R_RUN_ID]), reverse=True)
    return runs


def latest_run_dir(out: Path) -> Path:
    """The newest readable ``tweetbench run`` under ``out`` (an interleaved A/B run is not one)."""
    runs = [meta for meta in earlier_runs(out, exclude="") if meta.get(R_KIND, "run") == "run"]
    if not runs:
        raise ResultsError(f"no tweetbench runs in {out}: run 'tweetbench run' first")
    return out / runs[0][R_RUN_ID]
