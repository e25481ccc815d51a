"""A tune run's record, ``tune.json``: its schema, validation and safe reading."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from tweetbench import __version__
from tweetbench.errors import ResultsError
from tweetbench.records.keys import (
    K_COMMAND,
    K_DEVICE,
    K_ENVIRONMENT,
    K_RUN_ID,
    K_SCHEMA_VERSION,
    K_TIMING,
    K_TOOL,
    K_VERSION,
    K_WORKLOAD,
    SCHEMA_VERSION,
    TOOL,
)

TUNE_FILE = "tune.json"
TUNE_REPORT = "tune.md"
TUNE_SCHEMA_FILE = "tune-result.schema.json"


@functools.lru_cache(maxsize=1)
def tune_schema() -> dict[str, Any]:
    """The packaged JSON Schema of ``tune.json``."""
    text = resources.files("tweetbench.records").joinpath("schema", TUNE_SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def validate_tune(data: Mapping[str, Any], where: str = "tune record") -> dict[str, Any]:
    """A deep copy of ``data`` if it is a valid tune record of this schema version, else a one-line ``ResultsError``."""
    if not isinstance(data, Mapping) or data.get(K_TOOL) != TOOL or data.get("kind") != "tune":
        raise ResultsError(f"{where} is not a tweetbench tune record: pass a file written by 'tweetbench tune'")
    version = data.get(K_SCHEMA_VERSION)
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise ResultsError(f"{where} has schema version {version}, newer than this tweetbench reads "
                           f"({SCHEMA_VERSION}): upgrade tweetbench to read it")
    try:
        jsonschema.validate(dict(data), tune_schema())
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ResultsError(f"{where} does not match the tune schema at {path}: {exc.message[:160]}") from None
    return copy.deepcopy(dict(data))


def new_tune(*, run_id: str, command: Sequence[str], device: Mapping[str, Any], workload: Mapping[str, Any],
             settings: Mapping[str, Any], memory_cap_fault: int | None, finders: Mapping[str, Any],
             sweep: Mapping[str, Any], environment: Mapping[str, Any], timing: Mapping[str, Any]) -> dict[str, Any]:
    """Build and validate a tune record: the header, device, workload, environment and timing sections of a
    device result (``records.new_result``), with the tune's settings, finders and sweep in place of metrics."""
    return validate_tune({
        K_TOOL: TOOL,
        "kind": "tune",
        K_SCHEMA_VERSION: SCHEMA_VERSION,
        K_VERSION: __version__,
        K_RUN_ID: run_id,
        K_COMMAND: list(command),
        K_DEVICE: dict(device),
        K_WORKLOAD: dict(workload),
        "settings": dict(settings),
        "memory_cap_fault": memory_cap_fault,
        "finders": dict(finders),
        "sweep": dict(sweep),
        K_ENVIRONMENT: dict(environment),
        K_TIMING: dict(timing),
    })


def read_tune(path: Path) -> dict[str, Any]:
    """Read and validate a ``tune.json``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist: run 'tweetbench tune' first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} is unreadable or corrupt ({type(exc).__name__}): rerun 'tweetbench tune'") \
            from None
    return validate_tune(data, str(path))
