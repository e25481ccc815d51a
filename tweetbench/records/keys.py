"""Every key name of the records tweetbench writes, in one place, so that writers and readers cannot drift apart."""

from __future__ import annotations

from typing import Literal

SCHEMA_VERSION = 2  # 2: the breakdown's float step_ms is parts_step_ms (records.result.upgrade reads 1)
TOOL = "tweetbench"

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
K_ENVIRONMENT = "environment"
K_METRICS = "metrics"
K_BREAKDOWN = "breakdown"
K_COMMAND = "command"
K_TIMING = "timing"
K_ERROR_TAIL = "error_tail"
# A data-parallel run: world size, per-rank figures, communication, stragglers, scaling.
K_DISTRIBUTED = "distributed"
