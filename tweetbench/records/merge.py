"""The cross-machine summary record (``summary.json`` of ``tweetbench merge``): its format version and schema.

The record is built by ``report.merge.summary_record`` from the rows ``analysis.merge.select`` chose,
and validated here before it is written, like every record that leaves tweetbench.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

import jsonschema

from tweetbench.errors import ResultsError

MERGE_FORMAT_VERSION = 1
MERGE_KIND = "merge"
SCHEMA_FILE = "merge-summary.schema.json"


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    text = resources.files("tweetbench.records").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_merge_summary(data: Mapping[str, Any]) -> None:
    """Raise ``ResultsError`` (one line) unless ``data`` is a valid cross-machine summary of this format."""
    exc = jsonschema.exceptions.best_match(_validator().iter_errors(dict(data)))
    if exc is not None:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ResultsError(f"the merged summary does not match its schema at {path}: {exc.message[:160]}; "
                           "were the inputs edited by hand?")
