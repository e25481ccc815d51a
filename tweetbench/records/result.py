"""Result records: the schema version, the key names, construction with validation, and safe reading.

Every per-device JSON file is built here and validated against the JSON Schema that ships in
``tweetbench/records/schema/``; every reader goes through ``read_result`` so that a corrupt, truncated,
foreign or newer file is refused with a one-line error instead of being half-understood.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from tweetbench import __version__
from tweetbench.config import DeviceJob
from tweetbench.errors import ResultsError
from tweetbench.records.files import read_bytes
from tweetbench.records.keys import (
    K_BREAKDOWN,
    K_COMMAND,
    K_DEVICE,
    K_DISTRIBUTED,
    K_ENVIRONMENT,
    K_METRICS,
    K_REASON,
    K_RUN_ID,
    K_SCHEMA_VERSION,
    K_STATUS,
    K_TOOL,
    K_VERSION,
    K_WORKLOAD,
    SCHEMA_VERSION,
    TOOL,
    Status,
)

SCHEMA_FILE = "device-result.schema.json"


@functools.lru_cache(maxsize=1)
def result_schema() -> dict[str, Any]:
    """The packaged JSON Schema of a per-device result."""
    text = resources.files("tweetbench.records").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    # jsonschema.validate() checks the schema itself against the meta-schema on every call, which
    # costs far more than validating a result; the schema is checked once here instead.
    schema = result_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(data: Mapping[str, Any], where: str = "result") -> None:
    """Raise ``ResultsError`` (one line) unless ``data`` is a valid result of this schema version."""
    if not isinstance(data, Mapping) or data.get(K_TOOL) != TOOL:
        raise ResultsError(f"{where} is not a tweetbench result (no \"tool\": \"tweetbench\"): pass a file "
                           "written by 'tweetbench run'")
    version = data.get(K_SCHEMA_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise ResultsError(f"{where} has schema version {version}, newer than this tweetbench reads "
                           f"({SCHEMA_VERSION}): upgrade tweetbench to read it")
    # best_match: the same error jsonschema.validate() would raise.
    exc = jsonschema.exceptions.best_match(_validator().iter_errors(dict(data)))
    if exc is not None:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        message = exc.message if len(exc.message) <= 160 else exc.message[:157] + "..."
        raise ResultsError(f"{where} does not match the result schema at {path}: {message}") from None


@dataclass(frozen=True)
class DeviceResult:
    """One device's result: an immutable record, validated once, on construction (``where`` names it in
    the error: a file's path when it was read)."""

    data: Mapping[str, Any]
    where: InitVar[str] = "result"

    def __post_init__(self, where: str) -> None:
        validate(self.data, where)
        object.__setattr__(self, "data", copy.deepcopy(dict(self.data)))

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.data))

    @property
    def device(self) -> str:
        return str(self.data[K_DEVICE]["name"])

    @property
    def status(self) -> Status:
        return self.data[K_STATUS]  # type: ignore[no-any-return]


def new_result(*, run_id: str, device: Mapping[str, Any], status: Status, reason: str,
               workload: Mapping[str, Any], environment: Mapping[str, Any], command: list[str],
               metrics: Mapping[str, Any] | None = None, breakdown: Mapping[str, Any] | None = None,
               **extra: Any) -> DeviceResult:
    """Build and validate a result record."""
    data: dict[str, Any] = {
        K_TOOL: TOOL,
        K_SCHEMA_VERSION: SCHEMA_VERSION,
        K_VERSION: __version__,
        K_RUN_ID: run_id,
        K_DEVICE: dict(device),
        K_STATUS: status,
        K_REASON: reason,
        K_WORKLOAD: dict(workload),
        K_ENVIRONMENT: dict(environment),
        K_METRICS: dict(metrics or {}),
        K_BREAKDOWN: None if breakdown is None else dict(breakdown),
        K_COMMAND: list(command),
    }
    data.update(extra)
    return DeviceResult(data)


def lookup(node: Any, *path: str) -> Any:
    """The value at ``path`` (a key per level) in a nested record, or None where any level is missing."""
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON number {name}")


def strict_json(text: str, where: str, *, kind: str, advice: str = "") -> Any:
    """``json.loads`` refusing NaN and Infinity, with a one-line ``ResultsError`` naming ``where``
    for text that is not JSON (``advice`` is appended) or nests too deeply to be ``kind``."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ResultsError(f"{where} is not valid JSON ({exc.args[0].splitlines()[0]}): it is corrupt or "
                           f"truncated{advice}") from None
    except RecursionError:
        raise ResultsError(f"{where} nests too deeply to be {kind}") from None


# Schema version 2 renamed the floats that the breakdown called step_ms, so that step_ms always names a step
# summary (metrics.training.step_ms): the breakdown's own (the profiled step as its exclusive parts add up) is
# parts_step_ms, and each traced loop's (breakdown.operators.<loop>, and its timeline) mean_step_ms.
_STEP_MS = "step_ms"


def _rename(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict) and old in node and new not in node:
        node[new] = node.pop(old)


def _upgrade_breakdown(breakdown: Any) -> None:
    _rename(breakdown, _STEP_MS, "parts_step_ms")
    operators = breakdown.get("operators") if isinstance(breakdown, dict) else None
    for entry in operators.values() if isinstance(operators, dict) else []:
        _rename(entry, _STEP_MS, "mean_step_ms")
        if isinstance(entry, dict):
            _rename(entry.get("timeline"), _STEP_MS, "mean_step_ms")


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Rename in place the keys that an older schema version spelled differently, so that readers see one
    vocabulary: version 1's breakdown floats named ``step_ms`` (the device's, each rank's, each traced loop's)
    get their version-2 names. Returns ``data``."""
    version = data.get(K_SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version >= 2:
        return data
    distributed = data.get(K_DISTRIBUTED)
    ranks = distributed.get("ranks") if isinstance(distributed, Mapping) else None
    _upgrade_breakdown(data.get(K_BREAKDOWN))
    for rank in ranks if isinstance(ranks, list) else []:
        _upgrade_breakdown(rank.get(K_BREAKDOWN) if isinstance(rank, Mapping) else None)
    data[K_SCHEMA_VERSION] = 2
    return data


def parse_result(text: str | bytes, where: str) -> DeviceResult:
    """Parse and validate the bytes of a result file (an older schema version's keys renamed: ``upgrade``)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ResultsError(f"{where} is not UTF-8 text: it is not a tweetbench result") from None
    if not text.strip():
        raise ResultsError(f"{where} is empty: it was not written completely; rerun 'tweetbench run'")
    data = strict_json(text, where, kind="a tweetbench result", advice="; rerun 'tweetbench run'")
    return DeviceResult(upgrade(data) if isinstance(data, dict) else data, where)


def read_result(path: Path) -> DeviceResult:
    """Read one result file, refusing what is corrupt, truncated, foreign or newer with ``ResultsError``."""
    return parse_result(read_bytes(path, "a result file"), str(path))


def dumps(result: DeviceResult) -> str:
    """Canonical JSON text of a result (NaN and Infinity are refused, as JSON has no such numbers)."""
    return json.dumps(result.to_dict(), indent=2, sort_keys=False, allow_nan=False) + "\n"


def workload_section(job: DeviceJob, fingerprint: str | None, data_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``workload`` section of a result: the workload's name, config, fingerprint and data source."""
    return {"name": job.workload.name, "config": job.workload.to_dict(), "fingerprint": fingerprint,
            "data": dict(data_info or job.data.to_dict())}
