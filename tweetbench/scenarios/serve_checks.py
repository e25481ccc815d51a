"""The serve scenario's checks: accuracy against the model's own predictions, the TEST01-like response audit,
and no compile inside a measured LoadGen run. Each returns what it found and a problem ('' if none)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.devices import DeviceBackend

# How many differing samples a problem message names.
SHOWN = 5


def accuracy_check(figures: dict[str, Any], own: Sequence[int], labels: Sequence[int]) -> dict[str, Any]:
    """AccuracyOnly's logged predictions against ``own`` (the model's, sample by sample) and the labels.

    Every validation sample must be logged once, and its class must equal the model's own exactly: the served
    path may batch, pad and reorder, but never change an answer.
    """
    logged: Mapping[int, int] = figures.pop("accuracy_log")
    missing = [index for index in range(len(own)) if index not in logged]
    differing = [index for index, cls in logged.items() if index < len(own) and cls != own[index]]
    served = [logged.get(index, -1) for index in range(len(own))]
    problem = ""
    if missing:
        problem = f"AccuracyOnly logged {len(logged)} of {len(own)} validation samples (missing e.g. {missing[:SHOWN]})"
    elif differing:
        problem = (f"served predictions differ from the model's own on {len(differing)} of {len(own)} samples "
                   f"(e.g. {differing[:SHOWN]})")
    return {
        "samples": len(own),
        "logged": len(logged),
        "matches_model": not missing and not differing,
        "differing": len(differing),
        "accuracy": sum(p == y for p, y in zip(served, labels)) / len(labels) if labels else None,
        "model_accuracy": sum(p == y for p, y in zip(own, labels)) / len(labels) if labels else None,
        "problem": problem,
        "predictions": served,
        "run": figures,
    }


def audit_check(audited: Mapping[int, int], accuracy_predictions: Sequence[int]) -> dict[str, Any]:
    """TEST01-like: the responses LoadGen logged during performance runs against the accuracy run's answers.

    A SUT that answered faster in performance mode by answering differently (a cache, a shortcut) shows here.
    """
    # A request that failed (class -1, counted as an error by its SUT) is no answer to audit.
    differing = sorted(index for index, cls in audited.items()
                       if cls >= 0 and index < len(accuracy_predictions) and cls != accuracy_predictions[index])
    problem = ""
    if differing:
        problem = (f"{len(differing)} of {len(audited)} responses logged in the performance runs differ from the "
                   f"accuracy run's (TEST01-like check; e.g. samples {differing[:SHOWN]})")
    return {"checked": len(audited), "differing": len(differing), "passed": not differing and bool(audited),
            "problem": problem}


def check_compiles(backend: DeviceBackend, window: Mapping[str, Any], name: str) -> str:
    """The device's verdict on a measured LoadGen run (on XLA: any compile in it), as a problem or ''."""
    problem = backend.check_measurement(window)
    return f"{problem} of the {name} LoadGen run" if problem else ""
