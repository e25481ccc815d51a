"""Every key name of the records tweetbench writes, in one place, so that writers and readers cannot drift apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

SCHEMA_VERSION = 2  # 2: the breakdown's float step_ms is parts_step_ms (records.result.upgrade reads 1)
TOOL = "tweetbench"
# A result record as a renderer or an analysis reads it: the JSON object, keyed by the names below.
Record = Mapping[str, Any]
# The device kind every report compares the others against (speedups, parity, the merge's reference row). It
# lives here, not in devices/, so that a renderer need not import the backends (and torch) to know it;
# devices/__init__.py checks at import that the backend flagged ``reference`` is of this kind.
REFERENCE_KIND = "cpu"

Status = Literal["ok", "unavailable", "failed", "invalid"]
STATUSES: tuple[Status, ...] = ("ok", "unavailable", "failed", "invalid")

# A per-device result.
K_TOOL = "tool"
K_SCHEMA_VERSION = "schema_version"
K_VERSION = "tweetbench_version"
K_RUN_ID = "run_id"
K_SCENARIO = "scenario"
K_TRIAL = "trial"
K_DEVICE = "device"
K_STATUS = "status"
K_REASON = "reason"
K_NOISY = "noisy"
K_NOISE_REASONS = "noise_reasons"
K_TRIALS = "trials"
K_WORKLOAD = "workload"
K_PRESET = "preset"
K_THREADS = "threads"  # --threads N as asked, or None (environment.torch_threads is the count in use)
K_ENVIRONMENT = "environment"
K_METRICS = "metrics"
K_BREAKDOWN = "breakdown"
K_COMMAND = "command"
K_TIMING = "timing"
K_ERROR_TAIL = "error_tail"
# A data-parallel run: world size, per-rank figures, communication, stragglers, scaling.
K_DISTRIBUTED = "distributed"
# Inside K_DISTRIBUTED's scaling section: the single-device result the run's scaling is measured against.
K_REFERENCE = "reference"
