"""LoadGen's own log files, read back: ``mlperf_log_summary.txt``, ``mlperf_log_detail.txt`` and the accuracy log.

The detail log is the structured source (one ``:::MLLOG {json}`` line per key); the summary is what a reader
looks at, and its "Result is" line must agree with the detail log's ``result_validity``. Every latency is
converted from LoadGen's nanoseconds to seconds here, once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tweetbench.errors import DataError

SUMMARY = "mlperf_log_summary.txt"
DETAIL = "mlperf_log_detail.txt"
ACCURACY = "mlperf_log_accuracy.json"
TRACE = "mlperf_log_trace.json"
MLLOG_PREFIX = ":::MLLOG "
PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")
# The effective test settings LoadGen ran with, as the record keeps them (``effective_`` dropped).
SETTINGS_KEYS = ("scenario", "test_mode", "target_qps", "target_latency_ns", "target_latency_percentile",
                 "target_duration_ms", "min_duration_ms", "max_duration_ms", "min_query_count", "max_query_count",
                 "samples_per_query", "performance_sample_count", "accuracy_log_probability",
                 "accuracy_log_rng_seed", "qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed",
                 "max_async_queries")
# Settings LoadGen logs only as requested (it has no effective_ entry for them).
REQUESTED_KEYS = ("server_coalesce_queries",)
_SUMMARY_LINE = re.compile(r"^\s*([^:*]+?)\s*:\s*(.+?)\s*$")


def parse_detail(text: str) -> dict[str, Any]:
    """Every ``:::MLLOG`` key of the detail log with its value (the last one where a key repeats), and its
    errors and warnings under ``_errors`` / ``_warnings``."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for line in text.splitlines():
        if not line.startswith(MLLOG_PREFIX):
            continue
        try:
            entry = json.loads(line[len(MLLOG_PREFIX):])
        except json.JSONDecodeError:
            continue  # a line cut short when the process ended: the rest of the log still counts
        values[entry["key"]] = entry.get("value")
        meta = entry.get("metadata") or {}
        if meta.get("is_error"):
            errors.append(f"{entry['key']}: {entry.get('value')}")
        elif meta.get("is_warning"):
            warnings.append(f"{entry['key']}: {entry.get('value')}")
    values["_errors"], values["_warnings"] = errors, warnings
    return values


def parse_summary(text: str) -> dict[str, str]:
    """The summary's ``name : value`` lines, as written (the first one where a name repeats)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _SUMMARY_LINE.match(line)
        if match and not line.startswith("="):
            values.setdefault(match.group(1), match.group(2))
    return values


def parse_accuracy(text: str) -> dict[int, bytes]:
    """The accuracy log: each logged sample's QSL index and the response bytes the SUT gave for it."""
    entries = json.loads(text) if text.strip() else []
    return {int(entry["qsl_idx"]): bytes.fromhex(entry["data"]) for entry in entries}


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value) / 1e9


def _percentiles(detail: dict[str, Any], per_query: bool) -> dict[str, float | None]:
    middle = "percentile_per_query_latency_ns" if per_query else "percentile_latency_ns"
    return {f"p{name.rstrip('0').rstrip('.').replace('.', '_')}_s": _seconds(detail.get(f"result_{name}_{middle}"))
            for name in PERCENTILES}


def _early_stopping(detail: dict[str, Any]) -> dict[str, Any]:
    text = str(detail.get("early_stopping_result") or "")
    estimates = {f"p{m.group(1).rstrip('0').rstrip('.')}_s": float(m.group(2)) / 1e9
                 for m in re.finditer(r"Early stopping (\d+(?:\.\d+)?)th percentile estimate: (\d+)", text)}
    return {"met": detail.get("early_stopping_met"), "estimates": estimates,
            "text": " ".join(part.strip() for part in text.split("*") if part.strip())}


def figures(detail: dict[str, Any], summary: dict[str, str]) -> dict[str, Any]:
    """What the record keeps of one LoadGen run: validity and why, throughput, latency percentiles (s),
    early stopping, the effective settings and LoadGen's version."""
    scenario = detail.get("effective_scenario")
    validity = detail.get("result_validity")
    if summary.get("Result is") and validity and summary["Result is"] != validity:
        raise DataError(f"LoadGen's summary says {summary['Result is']} but its detail log {validity}")
    throughput = next((detail[key] for key in ("result_samples_per_second", "result_completed_samples_per_sec",
                                                "result_qps_with_loadgen_overhead") if key in detail), None)
    return {
        "scenario": scenario,
        "mode": detail.get("effective_test_mode"),
        "validity": validity,
        "valid": validity == "VALID",
        "invalid_reason": detail.get("result_invalid_reason") or "",
        "constraints": {key: detail.get(f"result_{key}") for key in (
            "perf_constraints_met", "min_duration_met", "min_queries_met")},
        "samples_per_s": throughput,
        "scheduled_samples_per_s": detail.get("result_scheduled_samples_per_sec"),
        "query_count": detail.get("result_query_count"),
        "overlatency_query_count": detail.get("result_overlatency_query_count"),
        "latency_s": {**_percentiles(detail, False), "min_s": _seconds(detail.get("result_min_latency_ns")),
                      "max_s": _seconds(detail.get("result_max_latency_ns")),
                      "mean_s": _seconds(detail.get("result_mean_latency_ns"))},
        "query_latency_s": _percentiles(detail, True) if scenario == "MultiStream" else None,
        "early_stopping": _early_stopping(detail),
        "settings": {**{key: detail.get(f"effective_{key}") for key in SETTINGS_KEYS if f"effective_{key}" in detail},
                     **{key: detail.get(f"requested_{key}") for key in REQUESTED_KEYS
                        if scenario == "Server" and f"requested_{key}" in detail}},
        "loadgen_version": detail.get("loadgen_version"),
        "errors": detail["_errors"],
        "warnings": detail["_warnings"],
    }


def read_run(directory: Path) -> dict[str, Any]:
    """The figures of the LoadGen run whose logs lie in ``directory`` (a one-line DataError if they are not)."""
    try:
        detail = parse_detail((directory / DETAIL).read_text(encoding="utf-8", errors="replace"))
        summary = parse_summary((directory / SUMMARY).read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise DataError(f"LoadGen wrote no log in {directory}: {exc.strerror or exc}") from None
    if "result_validity" not in detail and detail.get("effective_test_mode") != "AccuracyOnly":
        raise DataError(f"LoadGen's detail log in {directory} has no result: the run did not finish")
    return {**figures(detail, summary), "log_dir": str(directory)}


def read_accuracy(directory: Path) -> dict[int, bytes]:
    """The accuracy log of the run in ``directory`` (empty if LoadGen logged no sample)."""
    path = directory / ACCURACY
    return parse_accuracy(path.read_text(encoding="utf-8")) if path.exists() else {}
