"""XLA's host/device verdict, from torch_xla's metrics: the host's tracing and transfers against ExecuteTime.

Pure: the counters of a measured window (what ``devices/xla.py`` diffs around it, already in the
record), its step count and wall time in, a plain dict out. No trace is needed.

Per step, the device's part is torch_xla's ``ExecuteTime`` (running the compiled graph), the
transfers are ``TransferToDeviceTime`` + ``TransferFromDeviceTime``, and the host's part is the rest
of the synchronised step: tracing the lazy graph, Python and Lightning. *Device-bound* when the
device executes at least half of each step, else *host-bound*: a faster device would then shorten
only the part it executes. Compiles and CPU fallbacks inside the window are named, since either
moves time onto the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tweetbench.records import K_METRICS, lookup

DEVICE_BOUND_AT = 0.5


def host_device_split(window: Mapping[str, Any] | None, steps: int, seconds: float) -> dict[str, Any] | None:
    """The host/device split of one measured window, or None when it holds no XLA execute time."""
    if not window or window.get("execute_s") is None or steps <= 0 or seconds <= 0:
        return None
    step = seconds / steps
    execute = float(window["execute_s"]) / steps
    transfer = (float(window.get("transfer_to_device_s") or 0.0) + float(window.get("transfer_from_device_s") or 0.0)) \
        / steps
    host = max(step - execute - transfer, 0.0)
    # Execution may overlap the next step's tracing, so the parts can exceed the step: shares are of their sum then.
    whole = max(step, execute + transfer)
    split: dict[str, Any] = {
        "steps": steps,
        "step_ms": step * 1e3,
        "execute_ms": execute * 1e3,
        "transfer_ms": transfer * 1e3,
        "host_ms": host * 1e3,
        "execute_share": execute / whole,
        "transfer_share": transfer / whole,
        "host_share": host / whole,
        "executions_per_step": int(window.get("execute_count") or 0) / steps,
        "compile_count": int(window.get("compile_count") or 0),
        "compile_s": float(window.get("compile_s") or 0.0),
        "fallback_ops": dict(window.get("fallback_ops") or {}),
    }
    split.update(_verdict(split))
    return split


def _verdict(s: Mapping[str, Any]) -> dict[str, str]:
    if s["execute_share"] >= DEVICE_BOUND_AT:
        bound, text = "device", (f"device-bound: the device executes {s['execute_share'] * 100:.0f}% of each step "
                                 f"({s['execute_ms']:.2f} of {s['step_ms']:.2f} ms)")
    else:
        bound, text = "host", (f"host-bound: the host traces and transfers "
                               f"{(s['host_share'] + s['transfer_share']) * 100:.0f}% of each step "
                               f"({s['host_ms']:.2f} ms tracing and Python, {s['transfer_ms']:.2f} ms transfers); "
                               f"the device executes {s['execute_ms']:.2f} ms ({s['execute_share'] * 100:.0f}%)")
    compiles = s["compile_count"]
    text += f"; {compiles} compile{'s' if compiles != 1 else ''} in the measured steps"
    ops = sorted(s["fallback_ops"].items(), key=lambda kv: (-kv[1], kv[0]))
    text += "; CPU fallbacks: " + (", ".join(f"`{name}` ×{n}" for name, n in ops) if ops else "none")
    return {"bound": bound, "verdict": text}


def record_splits(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The host/device split of each measured window of an XLA result (training, batch-1, batched), where known."""
    train = lookup(result, K_METRICS, "training") or {}
    inference = lookup(result, K_METRICS, "inference") or {}
    offline = inference.get("offline") or {}
    windows = {
        "training": (lookup(result, K_METRICS, "device_counters"), train.get("measured_steps") or 0,
                     train.get("measured_seconds") or 0.0),
        "batch-1 inference": (inference.get("device_counters"), len(inference.get("raw_latency_s") or []),
                              sum(inference.get("raw_latency_s") or [])),
        f"batch-{offline.get('batch_size', '?')} inference": (offline.get("device_counters"),
                                                              len(offline.get("raw_batch_s") or []),
                                                              sum(offline.get("raw_batch_s") or [])),
    }
    splits = {name: host_device_split(*window) for name, window in windows.items()}
    return {name: split for name, split in splits.items() if split is not None}
