"""A training step's breakdown from Lightning's SimpleProfiler: exclusive parts whose shares add up to 100%.

SimpleProfiler's actions nest: ``optimizer_step`` contains the closure that runs
``training_step`` and ``backward``. ``breakdown_from_durations`` resolves that nesting into
exclusive, non-overlapping parts of the measured step. Pure: durations in, a plain dict out.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

PARTS = ("data_loading", "host_to_device", "forward", "backward", "optimizer", "other")
PART_LABELS = {
    "data_loading": "data loading",
    "host_to_device": "host-to-device transfer",
    "forward": "forward",
    "backward": "backward",
    "optimizer": "optimizer step",
    "other": "other (hooks, logging)",
}
VERDICT_WORDS = {
    "data_loading": "data-bound",
    "host_to_device": "transfer-bound",
    "forward": "forward-bound",
    "backward": "backward-bound",
    "optimizer": "optimizer-bound",
    "other": "overhead-bound",
}


def _find(durations: Mapping[str, Sequence[float]], prefix: str, suffix: str) -> list[float]:
    for action, values in durations.items():
        if action.startswith(prefix) and action.endswith(suffix):
            return list(values)
    return []


def _mean_tail(values: Sequence[float], skip: int) -> float:
    tail = list(values)[skip:] or list(values)
    return statistics.fmean(tail) if tail else 0.0


def breakdown_from_durations(durations: Mapping[str, Sequence[float]], step_seconds: float,
                             skip: int = 0) -> dict[str, Any]:
    """Turn SimpleProfiler's nested per-step actions into exclusive parts of one training step.

    ``step_seconds`` is the whole step as timed by the synchronised clock in the same pass;
    ``skip`` drops each action's first (warm-up) calls. ``optimizer`` is ``optimizer_step``
    less the ``training_step`` and ``backward`` nested in it; ``other`` is what the step took
    beyond the five named parts (hooks, logging, loop bookkeeping).
    """
    forward = _mean_tail(_find(durations, "[Strategy]", ".training_step"), skip)
    backward = _mean_tail(_find(durations, "[Strategy]", ".backward"), skip)
    optimizer_total = _mean_tail(_find(durations, "[LightningModule]", ".optimizer_step"), skip)
    parts = {
        "data_loading": _mean_tail(_find(durations, "[_TrainingEpochLoop]", ".train_dataloader_next"), skip),
        "host_to_device": _mean_tail(_find(durations, "[Strategy]", ".batch_to_device"), skip),
        "forward": forward,
        "backward": backward,
        "optimizer": max(optimizer_total - forward - backward, 0.0),
    }
    named = sum(parts.values())
    parts["other"] = max(step_seconds - named, 0.0)
    total = sum(parts.values())
    rows = {
        name: {"ms_per_step": seconds * 1e3, "share": (seconds / total if total > 0 else 0.0)}
        for name, seconds in parts.items()
    }
    bottleneck = max(PARTS, key=lambda name: rows[name]["share"])
    return {
        "parts": rows,
        "parts_step_ms": total * 1e3,  # the step as its exclusive parts add up
        "clock_step_ms": step_seconds * 1e3,  # the step as the synchronised clock timed it (the parts' basis)
        "bottleneck": bottleneck,
        "verdict": f"{VERDICT_WORDS[bottleneck]}: {rows[bottleneck]['share'] * 100:.0f}% of each step",
    }
