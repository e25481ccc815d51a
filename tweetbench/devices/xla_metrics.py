"""torch_xla's debug metrics as cumulative counters, and what a measured window's counters say about it.

The XLA backends (``devices/xla.py``) snapshot ``xla_counters()`` at both ends of each measured window and
diff them (``diff_counters``); ``compile_problem`` then refuses a window that compiled or loaded a graph, and
``transfer_problem`` warns of a window that went back to the host at every step.

torch_xla is imported inside ``xla_counters`` only: importing it starts its runtime client, which must not
happen in the parent process nor before the backend's ``setup()`` has set ``PJRT_DEVICE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FALLBACK_PREFIX = "aten::"
# Why the closed division's step uploads tensors at every time step, with functionalization on (devices/xla.py).
GATHER_CAUSE = ("torch_xla's functionalization (on, its default): the LSTM cell's in-place gate views become "
                "gathers whose int64 indices are built on the host, several per time step")


def xla_counters() -> dict[str, Any]:
    """torch_xla's cumulative debug metrics for this process, in seconds and counts.

    ``compile_*``: graphs compiled by XLA; ``cached_compile_count``: graphs found in the
    in-memory compile cache instead; ``execute_*``: executions of compiled graphs;
    ``fallback_ops``: ``aten::*`` ops that ran on the CPU because XLA has no lowering for them.
    """
    import torch_xla.debug.metrics as met

    def metric(name: str) -> tuple[int, float]:
        data = met.metric_data(name)
        if not data:
            return 0, 0.0
        count, total_ns, _samples = data
        return int(count), float(total_ns) / 1e9

    def counter(name: str) -> int:
        value = met.counter_value(name)
        return int(value) if value is not None else 0

    compile_count, compile_s = metric("CompileTime")
    execute_count, execute_s = metric("ExecuteTime")
    to_device_count, to_device_s = metric("TransferToDeviceTime")
    from_device_count, from_device_s = metric("TransferFromDeviceTime")
    fallbacks = {name: counter(name) for name in met.counter_names() if name.startswith(FALLBACK_PREFIX)}
    return {
        "compile_count": compile_count,
        "compile_s": compile_s,
        "cached_compile_count": counter("CachedCompile"),
        "execute_count": execute_count,
        "execute_s": execute_s,
        "transfer_to_device_count": to_device_count,
        "transfer_to_device_s": to_device_s,
        "transfer_from_device_count": from_device_count,
        "transfer_from_device_s": from_device_s,
        "graph_cuts": counter("MarkStep"),
        # The on-disk compile cache (devices/xla_cache.py): graphs loaded from it instead of compiled.
        "persistent_cache_hits": counter("PersistentCacheHit"),
        "persistent_cache_misses": counter("PersistentCacheMiss"),
        # Found on disk but not loadable: PJRT on the CPU cannot deserialize executables, so there the
        # cache never hits (measured with torch_xla 2.9); on a TPU it can.
        "persistent_cache_deserialize_failures": counter("PersistentCacheDeserializeFailure"),
        "fallback_ops": {name: n for name, n in fallbacks.items() if n},
    }


def compile_problem(window: Mapping[str, Any]) -> str:
    """Why a measured window is not valid: the graphs it compiled or loaded from the persistent cache, or ''."""
    count = int(window.get("compile_count") or 0)
    loaded = int(window.get("persistent_cache_hits") or 0)
    graphs = f"{loaded} graph{'' if loaded == 1 else 's'} loaded from the persistent compile cache"
    if count <= 0:
        return f"{graphs} during the measured steps" if loaded > 0 else ""
    plural = "compilation" if count == 1 else "compilations"
    compiled = f"{count} XLA {plural} during the measured steps ({float(window.get('compile_s') or 0.0):.1f} s)"
    return f"{compiled}, and {graphs}" if loaded > 0 else compiled


def transfer_problem(window: Mapping[str, Any], steps: int, allowed_per_step: int, functionalization: str) -> str:
    """Why a measured window went back to the host too often: more host-to-device transfers per step
    than the batch's own tensors (and the RNG seed), or ''. ``functionalization`` is the pass's state
    in the process that measured the window ("on" or "off"): on, it names the cause."""
    if steps <= 0 or "transfer_to_device_count" not in window:
        return ""
    per_step = int(window.get("transfer_to_device_count") or 0) / steps
    if per_step <= allowed_per_step:
        return ""
    cause = f" (the cause: {GATHER_CAUSE})" if functionalization == "on" else ""
    return (f"{per_step:.1f} host-to-device transfers per measured step, beyond the batch's "
            f"{allowed_per_step}: tensors made on the host at every step{cause}")
