"""The open division's arithmetic: each knob's speedup over closed with its interval, keep or drop, the
best combination, the compile cost's payback and the accuracy gate. Pure: figures in, decisions out.

A speedup is closed's median seconds per step over the candidate's, round by round, from blocks run in
the same rounds (``harness/ablation.py``): the geometric mean of the per-round ratios, with the t
interval on their logs (``ratios.paired_block_ratio``, the method ``ab`` and the overhead use). Steps of
one block share the machine's state, so the round is the unit; and pairing by round takes out the
machine's drift between rounds, which a ratio of pooled medians kept (under drift it kept a real 10%
speedup in 28% of draws; the paired interval in about twice as many: ``tests/analysis/test_power.py``).
A knob is **kept** only when its whole interval lies above 1 (resolved faster at this noise): one
that is slower, or not resolved faster, is dropped with that reason, as is one that cannot run on
the device, raises, or fails the accuracy gate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.analysis.overhead import MIN_ROUNDS
from tweetbench.analysis.parity import compare_losses, tolerance_for
from tweetbench.analysis.ratios import paired_block_ratio

KEEP_RULE = "kept when the 95% interval of its speedup over closed lies above 1; dropped otherwise"
# Epochs to the target the open division may take beyond closed's in the convergence scenario.
EXTRA_EPOCHS = 1


def speedup(candidate: Sequence[Sequence[float]], closed: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The candidate's speedup over closed, its 95% interval and its rounds.

    ``candidate`` and ``closed`` are per-round blocks of seconds per step (or request), one block per round,
    round k of each run side by side. The speedup is the geometric mean of the per-round ratios (closed's
    block median over the candidate's); the interval, the paired per-round log-ratio t interval; None below
    ``MIN_ROUNDS`` rounds."""
    rounds = min(len(candidate), len(closed))
    if rounds == 0:
        return {"speedup": None, "ci95": None, "rounds": 0, "ci_method": "no round completed"}
    paired = paired_block_ratio(candidate[:rounds], closed[:rounds])
    interval = [paired.low, paired.high] if rounds >= MIN_ROUNDS and paired.low is not None else None
    return {"speedup": paired.ratio, "ci95": interval, "rounds": rounds, "round_sd_log": paired.sd_log,
            "ci_method": f"t interval on the log per-round ratios over {rounds} interleaved rounds "
                         "(ratios.paired_block_ratio)"}


def _interval_text(figures: Mapping[str, Any]) -> str:
    ci = figures.get("ci95")
    text = f"{figures['speedup']:.2f}×"
    return text + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " (too few rounds for an interval)")


def decide(figures: Mapping[str, Any]) -> tuple[str, str]:
    """``kept`` or ``dropped``, and why, from a knob's speedup figures (``speedup``)."""
    if figures.get("speedup") is None:
        return "dropped", "no block completed"
    ci = figures.get("ci95")
    text = _interval_text(figures)
    if ci is None:
        return "dropped", f"not resolved: {text}"
    if ci[0] > 1.0:
        return "kept", f"resolved faster: {text}"
    if ci[1] < 1.0:
        return "dropped", f"slower: {text}"
    return "dropped", f"not resolved faster at this noise: {text}"


def combine(kept: Sequence[Mapping[str, Any]], fields: Mapping[str, Sequence[str]]) -> list[str]:
    """The kept knobs to apply together: the fastest first, then each that sets none of the same options
    (``fields``: knob -> the options it sets; fused and foreach Adam are alternatives, never both)."""
    chosen: list[str] = []
    taken: set[str] = set()
    for row in sorted(kept, key=lambda r: -(r.get("speedup") or 0.0)):
        sets = set(fields.get(row["knob"], (row["knob"],)))
        if sets & taken:
            continue
        chosen.append(row["name"])
        taken |= sets
    return chosen


def payback(compile_s: float | None, closed_step_s: float | None, open_step_s: float | None) -> dict[str, Any]:
    """The compile cost and the training steps it takes the faster step to pay it back."""
    if compile_s is None:
        return {"seconds": None, "step_saving_ms": None, "payback_steps": None,
                "note": "no knob of the open result compiles"}
    if not closed_step_s or not open_step_s:
        return {"seconds": compile_s, "step_saving_ms": None, "payback_steps": None,
                "note": "no step times to compare"}
    saving = closed_step_s - open_step_s
    if saving <= 0:
        return {"seconds": compile_s, "step_saving_ms": saving * 1e3, "payback_steps": None,
                "note": "the open step is not faster: the compile is never paid back"}
    return {"seconds": compile_s, "step_saving_ms": saving * 1e3, "payback_steps": math.ceil(compile_s / saving),
            "note": ""}


def parity_gate(closed: Sequence[float | None], opened: Sequence[float | None], precision: str) -> dict[str, Any]:
    """Open's parity losses against closed's on the same device, within the precision's tolerance."""
    check = compare_losses("open", opened, closed, tolerance_for(precision), against="closed's")
    return {"verdict": check.verdict, "max_abs_diff": check.max_abs_diff, "tolerance": check.tolerance,
            "reason": check.reason}


def convergence_gate(closed_epochs: int | None, open_epochs: int | None) -> dict[str, Any]:
    """Open must reach the target in no more epochs than closed + ``EXTRA_EPOCHS`` (and reach it if closed did)."""
    allowed = None if closed_epochs is None else closed_epochs + EXTRA_EPOCHS
    if closed_epochs is None:
        ok, reason = True, "closed did not reach the target: nothing to hold open to"
    elif open_epochs is None:
        ok, reason = False, f"open did not reach the target; closed did in {closed_epochs} epochs"
    else:
        ok = open_epochs <= allowed  # type: ignore[operator]
        reason = "" if ok else (f"open took {open_epochs} epochs to the target; closed took {closed_epochs} "
                                f"(allowed {allowed})")
    return {"closed_epochs": closed_epochs, "open_epochs": open_epochs, "allowed_epochs": allowed, "ok": ok,
            "reason": reason}
