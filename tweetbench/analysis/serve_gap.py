"""Where the Server scenario's remainder goes, against Offline on the same device and batcher.

With the batcher's busy time per request ``c`` (seconds in the forward path over requests served) and the share
of the run it was busy ``u`` (``c`` times the samples/s achieved), a scenario's throughput is ``u / c``. So

    max Server QPS / Offline samples/s = (u_server / u_offline) x (c_offline / c_server)

exactly: the first factor is the idle time the Server scenario keeps (requests arrive at random, and a batcher
that is never idle has an unbounded queue, so the p99 bound caps its busy share), the second what each request
costs more in the Server's smaller batches, and through contention with LoadGen's issuing thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _busy(figures: Mapping[str, Any]) -> tuple[float, float, float | None] | None:
    batching, rate = figures.get("batching") or {}, figures.get("samples_per_s")
    cost = batching.get("busy_ms_per_request")
    if not cost or not rate:
        return None
    return cost, rate * cost / 1000, batching.get("mean_batch")


def server_gap(offline: Mapping[str, Any], server: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The decomposition above, from the Offline run and the highest VALID Server point (None without either, or
    where a SUT did not report its batching, e.g. LitServe)."""
    if server is None:
        return None
    ours, theirs = _busy(server), _busy(offline)
    if ours is None or theirs is None:
        return None
    (server_ms, server_share, server_batch), (offline_ms, offline_share, offline_batch) = ours, theirs
    busy_factor, cost_factor = server_share / offline_share, offline_ms / server_ms
    return {
        "ratio": busy_factor * cost_factor,
        "busy_share": {"server": server_share, "offline": offline_share, "factor": busy_factor},
        "ms_per_request": {"server": server_ms, "offline": offline_ms, "factor": cost_factor},
        "mean_batch": {"server": server_batch, "offline": offline_batch},
        "server_target_qps": server.get("target_qps"),
    }
