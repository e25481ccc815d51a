"""The records layer: result records and their schema, the key names, run.json, run metadata and atomic writes.

Every number that leaves tweetbench goes through here: built and validated by ``new_result``,
read back only through ``read_result``, and written only through ``files.write_atomic``.
"""

from __future__ import annotations

from tweetbench.records.keys import (
    K_BREAKDOWN,
    K_COMMAND,
    K_DEVICE,
    K_DISTRIBUTED,
    K_ENVIRONMENT,
    K_ERROR_TAIL,
    K_METRICS,
    K_NOISE_REASONS,
    K_NOISY,
    K_PRESET,
    K_REASON,
    K_REFERENCE,
    K_RUN_ID,
    K_SCENARIO,
    K_SCHEMA_VERSION,
    K_STATUS,
    K_THREADS,
    K_TIMING,
    K_TOOL,
    K_TRIAL,
    K_TRIALS,
    K_VERSION,
    K_WORKLOAD,
    REFERENCE_KIND,
    SCHEMA_VERSION,
    STATUSES,
    TOOL,
    Record,
    Status,
)
from tweetbench.records.result import (
    DeviceResult,
    dumps,
    lookup,
    new_result,
    parse_result,
    read_result,
    result_schema,
    strict_json,
    validate,
    workload_section,
)

__all__ = [
    "K_BREAKDOWN", "K_COMMAND", "K_DEVICE", "K_DISTRIBUTED", "K_ENVIRONMENT", "K_ERROR_TAIL", "K_METRICS",
    "K_NOISE_REASONS", "K_NOISY", "K_PRESET", "K_REASON", "K_REFERENCE", "K_RUN_ID", "K_SCENARIO", "K_SCHEMA_VERSION",
    "K_STATUS", "K_THREADS", "K_TIMING", "K_TOOL", "K_TRIAL", "K_TRIALS", "K_VERSION", "K_WORKLOAD", "REFERENCE_KIND",
    "SCHEMA_VERSION", "STATUSES", "TOOL", "DeviceResult", "Record", "Status", "dumps", "lookup", "new_result",
    "parse_result", "read_result", "result_schema", "strict_json", "validate", "workload_section",
]
