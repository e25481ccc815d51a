"""Why a data-parallel worker failed: the error its earliest failing rank wrote, or, for a hang, where
each rank last was (the files of ``harness/rank_files.py``: ``rank_reporting`` and ``RankWatch``)."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any


def _read_reports(work_dir: Path, key: str, what: str) -> list[dict[str, Any]]:
    found = []
    for path in work_dir.glob(f"{key}.rank*.{what}.json"):
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def rank_errors(work_dir: Path, key: str) -> list[dict[str, Any]]:
    """The errors the ranks of job ``key`` recorded, earliest first."""
    return sorted(_read_reports(work_dir, key, "error"), key=lambda record: record.get("at", math.inf))


def _whereabouts(states: list[dict[str, Any]], world_size: int) -> str:
    """Which ranks stopped outside a collective while others waited inside one (the hang's suspects)."""
    if not states:
        return ""  # no rank got as far as training: the log says more
    seen = {s["rank"] for s in states}
    missing = sorted(set(range(world_size)) - seen)
    waiting = sorted(s["rank"] for s in states if s.get("in_collective"))
    stuck = sorted((s for s in states if not s.get("in_collective") and s.get("phase") not in ("done", "failed")),
                   key=lambda s: s["rank"])
    parts = []
    if missing:
        parts.append(f"rank(s) {', '.join(map(str, missing))} never reported (did not start?)")
    if stuck and waiting:
        parts.append("; ".join(f"rank {s['rank']} stopped in {s['phase']} at step {s['step']} outside communication"
                               for s in stuck) + f", while rank(s) {', '.join(map(str, waiting))} waited in a "
                     "collective for it")
    else:
        parts.append("last seen: " + ", ".join(
            f"rank {s['rank']} in {s.get('phase')} at step {s.get('step')}"
            + (" (in a collective)" if s.get("in_collective") else "") for s in sorted(states, key=lambda s: s["rank"])))
    return "; ".join(parts)


def failure_reason(work_dir: Path, key: str, reason: str, world_size: int) -> str:
    """``reason`` (how the worker ended), led by the rank whose error came first, or, for a rank that
    hangs, by where each rank last was."""
    errors = rank_errors(work_dir, key)
    if errors:
        first = errors[0]
        others = sorted({e["rank"] for e in errors[1:]} - {first["rank"]})
        after = f"; then rank(s) {', '.join(map(str, others))} failed too" if others else ""
        return f"rank {first['rank']} failed: {first['error']}{after} ({reason})"
    where = _whereabouts(_read_reports(work_dir, key, "state"), world_size)
    return f"{where} ({reason})" if where else reason
