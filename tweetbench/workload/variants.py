"""Workload variants: direction (LSTM or BiLSTM) and numeric precision, each under its own name.

A variant is a whole ``WorkloadConfig``: the direction variants are registered workloads
(``v1-uni``: ``tweets-lstm-v1-uni``), and a precision other than fp32 appends ``@<precision>``
to the name (``tweets-bilstm-v1@bf16-mixed``). The precision is part of ``to_dict()``, so each
variant also has its own fingerprint. Only the fp32 variant keeps the plain name, so fp32
fingerprints are the same as before variants existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, get_args

from tweetbench.config import DIVISIONS, OPEN_SUFFIX, Precision, WorkloadConfig, get_workload
from tweetbench.errors import UsageError

PRECISIONS: tuple[str, ...] = get_args(Precision)
DEFAULT_PRECISION = "32-true"
PRECISION_LABELS = {"32-true": "fp32", "32-tf32": "fp32 with TF32 matmuls", "32-xla-default": "fp32 with bf16 matmul passes",
                    "bf16-mixed": "bf16 mixed", "16-mixed": "fp16 mixed"}
# The keys of a workload config that a variant may change; everything else must match to compare two variants.
VARIANT_KEYS = ("name", "bidirectional", "precision", "division")


def parse_precision(text: str) -> str:
    """A Lightning precision name, or a one-line ``UsageError``."""
    value = text.strip()
    if value not in PRECISIONS:
        raise UsageError(f"unknown precision {text!r}: choose one of {', '.join(PRECISIONS)}")
    return value


def with_precision(workload: WorkloadConfig, precision: str) -> WorkloadConfig:
    """``workload`` at ``precision``, renamed ``<name>@<precision>`` unless it is fp32."""
    precision = parse_precision(precision)
    base = workload.name.removesuffix(OPEN_SUFFIX).split("@", 1)[0]
    name = base if precision == DEFAULT_PRECISION else f"{base}@{precision}"
    return with_division(dataclasses.replace(workload, name=name, precision=precision),  # type: ignore[arg-type]
                         workload.division)


def parse_division(text: str) -> str:
    """``closed`` or ``open``, or a one-line ``UsageError``."""
    value = text.strip()
    if value not in DIVISIONS:
        raise UsageError(f"unknown division {text!r}: choose closed (stock PyTorch + Lightning, the default) or open "
                         "(each device's fastest implementation of the same step, at the same accuracy)")
    return value


def with_division(workload: WorkloadConfig, division: str) -> WorkloadConfig:
    """``workload`` in ``division``: the open variant is named ``<name>+open``."""
    division = parse_division(division)
    base = workload.name.removesuffix(OPEN_SUFFIX)
    name = base + OPEN_SUFFIX if division == "open" else base
    return dataclasses.replace(workload, name=name, division=division)  # type: ignore[arg-type]


def resolve(workload: str, precision: str = DEFAULT_PRECISION, division: str = "closed") -> WorkloadConfig:
    """The variant named by a workload key (``v1``, ``v1-uni``, ...), a precision and a division."""
    return with_division(with_precision(get_workload(workload), precision), division)


def resolve_many(workloads: str, precisions: str, division: str = "closed") -> list[WorkloadConfig]:
    """Every variant of the comma-separated workload keys times the comma-separated precisions."""
    keys = _split(workloads, "--workload")
    levels = [parse_precision(p) for p in _split(precisions, "--precision")]
    return [resolve(key, level, division) for key in keys for level in levels]


def _split(text: str, flag: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"{flag} is empty or has an empty entry: give e.g. {flag} "
                         + ("v1,v1-uni" if flag == "--workload" else "32-true,bf16-mixed"))
    if len(set(items)) != len(items):
        raise UsageError(f"{flag} lists a value twice: list each once")
    return items


def direction(config: Mapping[str, Any]) -> str:
    """``BiLSTM`` or ``LSTM``, from a workload config dict."""
    return "BiLSTM" if config.get("bidirectional", True) else "LSTM"


def precision_label(config: Mapping[str, Any]) -> str:
    precision = str(config.get("precision", DEFAULT_PRECISION))
    return PRECISION_LABELS.get(precision, precision)


def family_key(config: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """What two variants must share to be compared: every config key except name, direction and precision."""
    return tuple(sorted((k, repr(v)) for k, v in config.items() if k not in VARIANT_KEYS))


def is_reference(config: Mapping[str, Any]) -> bool:
    """The variant every other one is compared against: the fp32 BiLSTM (the study's model), closed."""
    return (bool(config.get("bidirectional", True)) and config.get("precision", DEFAULT_PRECISION) == DEFAULT_PRECISION
            and config.get("division", "closed") == "closed")


def division(config: Mapping[str, Any]) -> str:
    """``closed`` or ``open``, from a workload config dict (records from before divisions are closed)."""
    return str(config.get("division", "closed"))
