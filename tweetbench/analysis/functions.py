"""The functions that do the work in a cProfile table: own time, Lightning's wrapper frames folded into their callers.

Pure: a table shaped like ``pstats.Stats(...).stats`` in, rows out. Each key is
``(filename, line, function)``; each value ``(primitive calls, calls, own time, cumulative time,
callers)``, where ``callers`` maps each caller's key to the same four figures for calls from it.

Sorted by cumulative time, a Lightning step is a chain of wrappers (the loop, the strategy, the
closure, the optimizer's ``step`` decorator) each holding the whole step. Sorted by own time,
their bookkeeping is spread over many small rows. Folding gives each wrapper frame's own time to
its callers, in proportion to the own time it spent for each (its calls, where that is zero),
until it reaches a function that is not a wrapper; what has no such caller (the top of
Lightning's loop) is one row, ``LOOP``. The rows left are the functions that do the work: the
model's operators, autograd, the optimizer's arithmetic, and Lightning's loop as one line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

Key = tuple[str, int, str]
LOOP: Key = ("~", 0, "Lightning's loop and hooks (wrapper frames with no caller outside them)")
# Path parts of the files whose frames are wrappers around the work, and why.
WRAPPER_PATHS = (
    "pytorch_lightning/",  # the trainer's loops, strategies, hooks and profilers
    "lightning_fabric/",
    "lightning/",  # the unified ``lightning`` package
    "torch/optim/optimizer.py",  # Optimizer.step's decorators (profiling hooks, grad mode, step pre/post hooks)
    "torch/utils/_contextlib.py",  # no_grad / inference_mode decorators
    "cProfile.py",  # the profiler itself
)
# Single functions that only dispatch: nn.Module.__call__ and its hook machinery.
WRAPPER_FUNCTIONS = frozenset({("torch/nn/modules/module.py", "_wrapped_call_impl"),
                               ("torch/nn/modules/module.py", "_call_impl")})
TOP = 15


def is_wrapper(key: Key) -> bool:
    """Whether a frame is a wrapper (Lightning, the optimizer's decorators, module dispatch, the profiler)."""
    filename, _line, function = key
    path = filename.replace("\\", "/")
    if "_lsprof" in function:
        return True
    return any(part in path for part in WRAPPER_PATHS) or any(
        path.endswith(file) and function == name for file, name in WRAPPER_FUNCTIONS)


def _destinations(stats: Mapping[Key, Any], key: Key, wrapper: Callable[[Key], bool],
                  memo: dict[Key, dict[Key, float]], visiting: set[Key]) -> dict[Key, float]:
    """Where a wrapper's own time ends up: fractions over non-wrapper callers (and ``LOOP``)."""
    if key in memo:
        return memo[key]
    visiting.add(key)
    callers = stats[key][4] if len(stats[key]) > 4 else {}
    weights = {c: float(v[2]) for c, v in callers.items() if c in stats}
    if weights and sum(weights.values()) <= 0:
        weights = {c: float(callers[c][1]) for c in weights}
    total = sum(weights.values())
    out: dict[Key, float] = defaultdict(float)
    if total <= 0:
        out[LOOP] = 1.0
    for caller, weight in weights.items():
        share = weight / total if total > 0 else 0.0
        if not wrapper(caller):
            out[caller] += share
        elif caller in visiting:
            out[LOOP] += share  # recursion among wrappers
        else:
            for target, fraction in _destinations(stats, caller, wrapper, memo, visiting).items():
                out[target] += share * fraction
    visiting.discard(key)
    memo[key] = dict(out)
    return memo[key]


def fold_wrappers(stats: Mapping[Key, Any], wrapper: Callable[[Key], bool] = is_wrapper) -> dict[Key, dict[str, float]]:
    """Each non-wrapper function's own time plus what its wrapper callees folded into it.

    Returns key -> ``{"own_s", "folded_s", "calls", "cumulative_s"}``; the own times add up to the
    table's total own time, so nothing is lost in the folding.
    """
    rows: dict[Key, dict[str, float]] = {}
    for key, value in stats.items():
        if not wrapper(key):
            rows[key] = {"own_s": float(value[2]), "folded_s": 0.0, "calls": float(value[1]),
                         "cumulative_s": float(value[3])}
    rows[LOOP] = {"own_s": 0.0, "folded_s": 0.0, "calls": 0.0, "cumulative_s": 0.0}
    memo: dict[Key, dict[Key, float]] = {}
    for key, value in stats.items():
        if wrapper(key) and value[2] > 0:
            for target, fraction in _destinations(stats, key, wrapper, memo, set()).items():
                rows[target]["own_s"] += value[2] * fraction
                rows[target]["folded_s"] += value[2] * fraction
    return rows


def display_name(key: Key) -> str:
    """``optim/adam.py:345(_single_tensor_adam)``, or a built-in's own name."""
    filename, line, function = key
    if filename == "~":
        return function
    parts = filename.replace("\\", "/").split("/")
    return f"{'/'.join(parts[-2:])}:{line}({function})"


def top_working_functions(stats: Mapping[Key, Any], limit: int = TOP, *, steps: int = 1) -> list[dict[str, Any]]:
    """The ``limit`` functions with the most own time once wrappers are folded, per step of ``steps``."""
    rows = fold_wrappers(stats)
    ordered = sorted(rows.items(), key=lambda kv: (kv[1]["own_s"], display_name(kv[0])), reverse=True)
    return [{"function": display_name(key), "calls": int(row["calls"]), "own_s": row["own_s"],
             "folded_s": row["folded_s"], "tottime_s": row["own_s"] - row["folded_s"],
             "cumtime_s": row["cumulative_s"], "own_ms_per_step": row["own_s"] / max(steps, 1) * 1e3}
            for key, row in ordered[:limit] if row["own_s"] > 0]
