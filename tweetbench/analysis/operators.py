"""Where a step's time goes, operator by operator: a Kineto trace's operators grouped into parts of the model.

Pure: the parsed JSON of a trace written by Lightning's ``PyTorchProfiler`` in, a plain dict out.

Each host span falls in the group of its innermost enclosing span that names one:

- Lightning's ``[pl][module]<class>: <name>`` annotation around each module's forward: the embedding,
  the LSTM, the head (dropout and linear); the model's own forward outside its submodules is
  the pooling (the pad mask and the mean over positions);
- ``training_step`` outside the model: the loss; Lightning's closure (loss scaling and bookkeeping,
  run under grad mode inside the optimizer's step, so its operators carry an autograd sequence
  number that the optimizer's own, run under ``no_grad``, do not) is counted with the loss too;
- ``autograd::engine::evaluate_function: XBackward0``: the backward of the forward operator with
  the same autograd sequence number (the trace's ``Sequence number``), so each part has its backward;
  gradient accumulation and the engine's own time are "backward, other";
- ``Optimizer.step#...``, ``Optimizer.zero_grad#...``: the optimizer;
- ``batch_to_device``, and copies outside every part: copies; the data loader: data loading;
- everything else (hooks, the loop, time between annotations): other.

Host time is the own time of the spans on the thread that runs the loop, in the analysed steps
(see ``trace.Trace``), plus that thread's time outside any span, so the groups add up to the
whole step. Kernels and device copies count towards the group of the operator that launched them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.analysis.trace import COPY_CATEGORIES, Trace, clipped, overlap, union

FORWARD_GROUPS = ("embedding", "lstm", "pooling", "head", "loss")
GROUPS = (*FORWARD_GROUPS, *(f"{g}_backward" for g in FORWARD_GROUPS), "backward_other", "optimizer", "copies",
          "data", "other")
_NAMES = {"embedding": "embedding", "lstm": "LSTM", "pooling": "pooling", "head": "head", "loss": "loss"}
GROUP_LABELS = {
    **{g: _NAMES[g] for g in FORWARD_GROUPS},
    **{f"{g}_backward": f"{_NAMES[g]} backward" for g in FORWARD_GROUPS},
    "pooling": "pooling (pad mask, mean over positions)",
    "head": "head (dropout, linear)",
    "backward_other": "backward, other (gradient accumulation, autograd engine)",
    "optimizer": "optimizer (step, zero_grad)",
    "copies": "copies (host-device transfers, conversions)",
    "data": "data loading",
    "other": "other (hooks and the step's sync, loop, Python between operators)",
}
VERDICT_WORDS = {
    **{g: f"{_NAMES[g]}-bound" for g in FORWARD_GROUPS},
    **{f"{g}_backward": f"{_NAMES[g]}-backward-bound" for g in FORWARD_GROUPS},
    "backward_other": "backward-bound", "optimizer": "optimizer-bound", "copies": "copy-bound",
    "data": "data-bound", "other": "overhead-bound",
}
# Module classes (the last part of the annotation's class path) and the part they are.
MODULE_GROUPS = {"Embedding": "embedding", "EmbeddingBag": "embedding", "LSTM": "lstm", "GRU": "lstm", "RNN": "lstm",
                 "Dropout": "head", "Linear": "head"}
PARAMETER_NOUNS = {"embedding": "the embedding table", "lstm": "the LSTM", "head": "the head"}
COPY_OPS = frozenset({"aten::copy_", "aten::to", "aten::_to_copy", "aten::_copy_from", "aten::_copy_from_and_resize",
                      "aten::pin_memory", "aten::_pin_memory"})
# The optimizer's element-wise update, as opposed to its bookkeeping (step counts, copies, allocation).
UPDATE_PREFIXES = ("aten::_foreach_", "aten::_fused_")
UPDATE_OPS = frozenset({"aten::lerp_", "aten::mul_", "aten::addcmul_", "aten::addcdiv_", "aten::sqrt", "aten::sqrt_",
                        "aten::div", "aten::div_", "aten::add_", "aten::add", "aten::sub_", "aten::maximum",
                        "aten::maximum_", "aten::neg", "aten::reciprocal_", "aten::mul"})
MODULE_PREFIX = "[pl][module]"
BACKWARD_PREFIX = "autograd::engine::evaluate_function: "
OPTIMIZER_PREFIXES = ("Optimizer.step#", "Optimizer.zero_grad#")
TOP = 15


def _sequence(span_args: Mapping[str, Any]) -> Any:
    return span_args.get("Sequence number")


def _own_group(name: str, args: Mapping[str, Any], forward: Mapping[Any, str]) -> str | None:
    """The group a span names by itself, or None when it takes its parent's."""
    if name.startswith(MODULE_PREFIX):
        module_class = name[len(MODULE_PREFIX):].split(":")[0].rsplit(".", 1)[-1]
        return MODULE_GROUPS.get(module_class, "pooling")
    if name.startswith(BACKWARD_PREFIX):
        group = forward.get(_sequence(args))
        return f"{group}_backward" if group in FORWARD_GROUPS else "backward_other"
    if name.startswith(OPTIMIZER_PREFIXES) or name.endswith(".optimizer_zero_grad"):
        return "optimizer"
    if name.endswith(".batch_to_device"):
        return "copies"
    if "dataloader_next" in name or name.startswith("enumerate(DataLoader)"):
        return "data"
    if name.startswith("[pl][profile]") and name.endswith(".training_step"):
        return "loss"
    if name.startswith("[pl][profile]") and name.endswith(".backward"):
        return "backward_other"
    if name.startswith("[pl][profile]") and name.rsplit(".", 1)[-1].startswith("on_"):
        return "other"  # a Lightning hook, wherever it runs (the step's device sync is in one)
    return None


def _group_pass(trace: Trace, forward: Mapping[Any, str]) -> list[str]:
    groups: list[str] = []
    for i, span in enumerate(trace.host):
        parent = trace.parent[i]
        own = _own_group(span.name, span.args, forward)
        inherited = groups[parent] if parent is not None else "other"
        if own is not None:
            groups.append(own)
        elif inherited == "optimizer" and span.cat == "cpu_op" and _sequence(span.args) is not None:
            groups.append("loss")
        elif inherited == "other" and span.name in COPY_OPS:
            groups.append("copies")
        else:
            groups.append(inherited)
    return groups


def group_spans(trace: Trace) -> list[str]:
    """The group of every host span of ``trace`` (same order as ``trace.host``).

    Two passes: the first finds the group of each forward operator's autograd sequence number,
    the second gives each backward node the group of its forward (on GPUs the backward runs on
    another thread, which may come first in the span order).
    """
    first = _group_pass(trace, {})
    forward = {_sequence(span.args): group for span, group in zip(trace.host, first)
               if span.cat == "cpu_op" and group in FORWARD_GROUPS and _sequence(span.args) is not None}
    return _group_pass(trace, forward)


def _delegate_backward(trace: Trace, groups: Sequence[str], host_us: dict[str, float]) -> None:
    """Give the loop thread's wait inside ``backward`` to what the other threads did meanwhile.

    For a tensor on a GPU or an XLA device, autograd runs the backward on its own device thread:
    the loop thread only waits in ``backward``, and the backward's operators are on the other thread.
    """
    waiting = union([seg for i, span in enumerate(trace.host)
                     if span.thread == trace.main_thread and groups[i] == "backward_other"
                     for seg in trace.self_segments(i)])
    if not waiting:
        return
    moved: dict[str, float] = defaultdict(float)
    for i, span in enumerate(trace.host):
        if span.thread != trace.main_thread:
            for a, b in trace.self_segments(i):
                moved[groups[i]] += overlap(a, b, waiting)
    total = sum(moved.values())
    if total <= 0:
        return
    # Two threads busy at once must not give away more than the wait itself.
    scale = min(1.0, sum(b - a for a, b in waiting) / total)
    for group, us in moved.items():
        host_us[group] += us * scale
        host_us["backward_other"] -= us * scale


def _device_group(trace: Trace, groups: Sequence[str], span: Any) -> str:
    launcher = trace.launcher(span)
    group = groups[launcher] if launcher is not None else "other"
    return "copies" if group == "other" and span.cat in COPY_CATEGORIES else group


def _shares(us: Mapping[str, float], steps: int, prefix: str = "") -> dict[str, dict[str, float]]:
    total = sum(us.values())
    return {g: {f"{prefix}ms_per_step": us[g] / steps / 1e3, f"{prefix}share": us[g] / total if total > 0 else 0.0}
            for g in GROUPS}


def _top_operators(trace: Trace, groups: Sequence[str], device_by_op: Mapping[int, float], top: int,
                   total_us: float) -> list[dict[str, Any]]:
    """Operators by own time across every thread, per step, with the device time of what they launched."""
    steps = trace.step_count
    own: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    device: dict[str, float] = defaultdict(float)
    by_group: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for i, span in enumerate(trace.host):
        if span.cat != "cpu_op":
            continue
        mine = trace.self_time(i)
        own[span.name] += mine
        by_group[span.name][groups[i]] += mine
        device[span.name] += device_by_op.get(i, 0.0)
        calls[span.name] += int(any(start <= span.start < end for start, end in trace.windows))
    rows = [{"name": name, "group": max(by_group[name].items(), key=lambda kv: kv[1])[0],
             "calls_per_step": calls[name] / steps, "self_ms_per_step": own[name] / steps / 1e3,
             "share": own[name] / total_us if total_us > 0 else 0.0,
             "device_ms_per_step": device[name] / steps / 1e3} for name in own]
    rows.sort(key=lambda row: (row["self_ms_per_step"] + row["device_ms_per_step"], row["name"]), reverse=True)
    return rows[:top]


def _top_kernels(trace: Trace, groups: Sequence[str], top: int) -> list[dict[str, Any]]:
    steps = trace.step_count
    time: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    group: dict[str, str] = {}
    for span in [*trace.kernels, *trace.copies]:
        inside = clipped(span.start, span.end, trace.windows)
        if inside <= 0:
            continue
        time[span.name] += inside
        count[span.name] += 1
        group.setdefault(span.name, _device_group(trace, groups, span))
    total = sum(time.values())
    rows = [{"name": name, "group": group[name], "count_per_step": count[name] / steps,
             "ms_per_step": time[name] / steps / 1e3, "share": time[name] / total if total > 0 else 0.0}
            for name in time]
    rows.sort(key=lambda row: (row["ms_per_step"], row["name"]), reverse=True)
    return rows[:top]


def operator_breakdown(trace: Mapping[str, Any], *, parameters: Mapping[str, int] | None = None,
                       top: int = TOP) -> dict[str, Any] | None:
    """The analysed steps of ``trace`` by group of operators, the top operators, and a verdict.

    ``parameters`` (group -> parameter count, see ``parameter_groups``) lets the verdict say which
    part's parameters an optimizer-bound step spends its update on. None when the trace holds no
    profiled step.
    """
    t = Trace(trace)
    if not t.windows:
        return None
    groups = group_spans(t)
    host_us = dict.fromkeys(GROUPS, 0.0)
    for i, span in enumerate(t.host):
        if span.thread == t.main_thread:
            host_us[groups[i]] += t.self_time(i)
    host_us["other"] += t.uncovered(t.main_thread)
    _delegate_backward(t, groups, host_us)
    device_us = dict.fromkeys(GROUPS, 0.0)
    device_by_op: dict[int, float] = defaultdict(float)
    for span in [*t.kernels, *t.copies]:
        inside = clipped(span.start, span.end, t.windows)
        device_us[_device_group(t, groups, span)] += inside
        launcher = t.launcher(span)
        if launcher is not None:
            device_by_op[launcher] += inside
    steps, on_device = t.step_count, sum(device_us.values()) > 0
    rows = _shares(host_us, steps)
    if on_device:
        for g, row in _shares(device_us, steps, "device_").items():
            rows[g].update(row)
    result: dict[str, Any] = {
        "steps": steps,
        "mean_step_ms": sum(t.window_ms) / steps,
        "window_ms": t.window_ms,
        "basis": "device" if on_device else "host",
        "groups": rows,
        "top_operators": _top_operators(t, groups, device_by_op, top, sum(host_us.values())),
        "top_kernels": _top_kernels(t, groups, top) if on_device else [],
    }
    result.update(_verdict(result, _update_share(t, groups, host_us), _optimizer_name(t), parameters))
    return result


def _update_share(trace: Trace, groups: Sequence[str], host_us: Mapping[str, float]) -> float:
    """The optimizer's element-wise update (not its bookkeeping) as a share of the step's host time."""
    update = sum(trace.self_time(i) for i, span in enumerate(trace.host)
                 if groups[i] == "optimizer" and span.thread == trace.main_thread
                 and (span.name in UPDATE_OPS or span.name.startswith(UPDATE_PREFIXES)))
    total = sum(host_us.values())
    return update / total if total > 0 else 0.0


def _optimizer_name(trace: Trace) -> str:
    for span in trace.host:
        if span.name.startswith("Optimizer.step#"):
            return span.name.split("#", 1)[1].split(".", 1)[0]
    return "the optimizer"


def _verdict(result: Mapping[str, Any], update_share: float, optimizer: str,
             parameters: Mapping[str, int] | None) -> dict[str, str]:
    key = "device_share" if result["basis"] == "device" else "share"
    rows = result["groups"]
    bottleneck = max(GROUPS, key=lambda g: rows[g][key])
    share = rows[bottleneck][key]
    where = "of the device's busy time" if result["basis"] == "device" else "of each step"
    text = f"{VERDICT_WORDS[bottleneck]}: {share * 100:.0f}% {where}"
    if bottleneck == "optimizer" and result["basis"] == "host" and update_share > 0:
        text += f"; {optimizer}'s element-wise update is {update_share * 100:.0f}% of the step"
        text += _parameter_clause(parameters)
    else:
        # Name the operators that make a good part of it (host time: on a device, the kernel table names them).
        mine = [op for op in result["top_operators"] if op["group"] == bottleneck and result["basis"] == "host"
                and op["share"] >= share / 4][:2]
        if mine:
            text += ", mostly " + " and ".join(f"`{op['name']}` ({op['share'] * 100:.0f}%)" for op in mine)
    return {"bottleneck": bottleneck, "verdict": text}


def _parameter_clause(parameters: Mapping[str, int] | None) -> str:
    counts = {g: n for g, n in (parameters or {}).items() if n > 0}
    total = sum(counts.values())
    if not total:
        return ""
    largest = max(counts, key=lambda g: counts[g])
    return (f", and {PARAMETER_NOUNS.get(largest, largest)} holds {counts[largest] / total * 100:.0f}% "
            f"({counts[largest] / 1e6:.2f}M) of the {total / 1e6:.2f}M parameters it updates")


def parameter_groups(modules: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Parameter counts per group, from (module class name, parameters it holds itself) pairs."""
    counts: dict[str, int] = defaultdict(int)
    for module_class, count in modules:
        counts[MODULE_GROUPS.get(module_class, "pooling")] += int(count)
    return dict(counts)
