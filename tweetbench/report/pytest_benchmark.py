"""Fold a pytest-benchmark ``--benchmark-json`` file into ``summary.md``.

``tweetbench report --pytest-benchmark FILE.json`` validates the file, keeps a copy as
``<out>/pytest-benchmark.json`` and re-renders the summary, which then carries a section with
the benchmarks grouped by scenario, devices side by side. Every later ``tweetbench run`` or
``tweetbench report`` keeps folding the kept copy in, so the section survives until a newer
file replaces it. A file that is not a pytest-benchmark JSON is refused with a one-line
``ResultsError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from tweetbench.errors import ResultsError
from tweetbench.records import K_TOOL, TOOL, strict_json
from tweetbench.records.files import read_bytes

SAVED = "pytest-benchmark.json"
SECTION_TITLE = "## pytest-benchmark"

_NUMBER = {"type": "number"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["machine_info", "benchmarks", "datetime", "version"],
    "properties": {
        "machine_info": {"type": "object"},
        "commit_info": {"type": "object"},
        "datetime": {"type": "string"},
        "version": {"type": "string"},
        "benchmarks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "fullname", "group", "stats", "extra_info"],
                "properties": {
                    "name": {"type": "string"},
                    "fullname": {"type": "string"},
                    "group": {"type": ["string", "null"]},
                    "extra_info": {"type": "object"},
                    "stats": {
                        "type": "object",
                        "required": ["min", "max", "mean", "stddev", "median", "iqr", "rounds"],
                        "properties": {
                            "min": _NUMBER, "max": _NUMBER, "mean": _NUMBER, "stddev": _NUMBER,
                            "median": _NUMBER, "iqr": _NUMBER, "rounds": {"type": "integer", "minimum": 1},
                        },
                    },
                },
            },
        },
    },
}


def parse_pytest_benchmark(text: str, where: str) -> dict[str, Any]:
    """Parse and validate a pytest-benchmark JSON document, or raise a one-line ``ResultsError``."""
    if not text.strip():
        raise ResultsError(f"{where} is empty: write it with pytest --benchmark-only --benchmark-json={where}")
    data = strict_json(text, where, kind="a pytest-benchmark file")
    if isinstance(data, dict) and data.get(K_TOOL) == TOOL:
        raise ResultsError(f"{where} is a tweetbench result, not a pytest-benchmark file: pass the file written "
                           "by pytest --benchmark-json")
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        message = exc.message if len(exc.message) <= 120 else exc.message[:117] + "..."
        raise ResultsError(f"{where} is not a pytest-benchmark --benchmark-json file (at {path}: {message})") \
            from None
    if not data["benchmarks"]:
        raise ResultsError(f"{where} holds no benchmarks (was it written with --benchmark-disable, or with no "
                           "benchmark selected?)")
    return data


def read_pytest_benchmark(path: Path) -> dict[str, Any]:
    """Read and validate a pytest-benchmark JSON file."""
    raw = read_bytes(path, "a pytest-benchmark JSON file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ResultsError(f"{path} is not UTF-8 text: it is not a pytest-benchmark JSON file") from None
    return parse_pytest_benchmark(text, str(path))


# --------------------------------------------------------------------------- rendering (pure)


def _time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:,.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:,.3f} ms"
    return f"{seconds * 1e6:,.1f} µs"


def _cell(value: Any, fmt: str = "{:,.0f}") -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return fmt.format(value)
    return str(value).replace("|", "\\|")


def _device(bench: Mapping[str, Any]) -> str:
    info = bench["extra_info"]
    return str(info.get("device_label") or info.get("device") or bench.get("param") or "–").replace("|", "\\|")


def _origin(data: Mapping[str, Any]) -> str:
    machine = data["machine_info"]
    cpu = (machine.get("cpu") or {}).get("brand_raw") if isinstance(machine.get("cpu"), Mapping) else None
    commit = data.get("commit_info") or {}
    parts = [f"pytest-benchmark {data['version']}", f"run {data['datetime']}",
             f"machine {machine.get('node', '?')} ({cpu or machine.get('processor') or machine.get('machine', '?')})"]
    if commit.get("id"):
        parts.append(f"commit {str(commit['id'])[:12]}" + (" (dirty)" if commit.get("dirty") else ""))
    return ", ".join(parts)


def _group_table(benches: Sequence[Mapping[str, Any]]) -> list[str]:
    overhead = any("ratio" in b["extra_info"] for b in benches)
    header = "| benchmark | device | median | IQR | mean ± stdev | min | rounds | samples/s |"
    rule = "|---|---|---|---|---|---|---|---|"
    if overhead:
        header += " Lightning / bare | target |"
        rule += "---|---|"
    lines = [header, rule]
    for b in benches:
        s, info = b["stats"], b["extra_info"]
        row = (f"| `{b['name']}` | {_device(b)} | {_time(s['median'])} | {_time(s['iqr'])} | "
               f"{_time(s['mean'])} ± {_time(s['stddev'])} | {_time(s['min'])} | {s['rounds']} | "
               f"{_cell(info.get('samples_per_s'))} |")
        if overhead:
            row += f" {_cell(info.get('ratio'), '{:.3f}')} | {_cell(info.get('target'), '{:.2f}')} |"
        lines.append(row)
    return lines


def render_section(data: Mapping[str, Any], source: str) -> str:
    """The summary's pytest-benchmark section: one table per group (scenario), devices as rows."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for bench in data["benchmarks"]:
        groups.setdefault(bench["group"] or "(no group)", []).append(bench)
    workloads = sorted({f"{b['extra_info'].get('workload', '?')} "
                        f"(`{str(b['extra_info'].get('fingerprint', '?'))[:19]}…`)" for b in data["benchmarks"]})
    modes = sorted({str(b["extra_info"]["mode"]) for b in data["benchmarks"] if "mode" in b["extra_info"]})
    lines = [SECTION_TITLE, "", f"From `{source}`: {_origin(data)}. Workload: {', '.join(workloads)}."
             + (f" Mode: {', '.join(modes)}." if modes else ""), ""]
    if "fast" in modes:
        lines += ["> Fast-mode figures (the `make test` smoke pass, a few rounds on the tiny workload) are not "
                  "measurements: use `pytest --benchmark-only`.", ""]
    for name in sorted(groups):
        lines += [f"### {name}", "", *_group_table(groups[name]), ""]
    lines.append("Times are per round, each round synchronised with its device; folded in by "
                 "`tweetbench report --pytest-benchmark`.")
    return "\n".join(lines) + "\n"


def fold_section(summary: str, section: str) -> str:
    """``summary`` with ``section`` appended (replacing an earlier pytest-benchmark section, if any)."""
    head = summary.split("\n" + SECTION_TITLE + "\n", 1)[0].rstrip("\n")
    return f"{head}\n\n{section}"


# --------------------------------------------------------------------------- writers (thin)


def fold_saved(out: Path, summary: str) -> str:
    """``summary`` with the section of ``<out>/pytest-benchmark.json`` if one was kept; a kept file
    that has since become unreadable is noted in one line instead of failing the run."""
    path = out / SAVED
    if not path.exists():
        return summary
    try:
        section = render_section(read_pytest_benchmark(path), SAVED)
    except ResultsError as exc:
        section = f"{SECTION_TITLE}\n\nThe kept pytest-benchmark results cannot be shown: {exc.message}\n"
    return fold_section(summary, section)
