"""The search for the highest target QPS that LoadGen's Server scenario calls VALID.

Each point is one LoadGen run at one target QPS (``measure``). The search brackets the boundary from a first
guess (doubling up from a VALID point, halving down from an INVALID one), then bisects the bracket until the
highest VALID and the lowest INVALID target are within ``tolerance`` of each other (relative), or it has spent
its runs. Every point tried is kept, in order: the answer is the highest VALID target, never an interpolation.
A noisy verdict (a VALID point above an INVALID one) is kept as measured; the bracket only narrows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# What one LoadGen run says of a target QPS: ``valid`` and whatever else the record keeps of it.
Point = dict[str, Any]


@dataclass(frozen=True)
class SearchConfig:
    first_qps: float
    tolerance: float = 0.05
    max_runs: int = 8
    min_qps: float = 1.0  # below this the search gives up: nothing is VALID

    def __post_init__(self) -> None:
        if self.first_qps <= 0 or self.tolerance <= 0 or self.max_runs < 1:
            raise ValueError("a QPS search needs first_qps > 0, tolerance > 0 and max_runs >= 1")


@dataclass
class SearchResult:
    points: list[Point] = field(default_factory=list)
    max_valid_qps: float | None = None
    min_invalid_qps: float | None = None
    # Whether the bracket closed within the tolerance (else the search spent its runs first).
    converged: bool = False

    @property
    def best(self) -> Point | None:
        return best_point(self.points)

    def to_dict(self) -> dict[str, Any]:
        return {"points": self.points, "max_valid_qps": self.max_valid_qps, "min_invalid_qps": self.min_invalid_qps,
                "converged": self.converged}


def best_point(points: Sequence[Point]) -> Point | None:
    """The highest VALID point tried (the search's answer, at ``max_valid_qps``), or None if none was VALID."""
    return max((p for p in points if p["valid"]), key=lambda p: p["target_qps"], default=None)


def _next_target(lo: float | None, hi: float | None, first: float) -> float:
    if lo is None and hi is None:
        return first
    if lo is None:
        return hi / 2  # type: ignore[operator]
    if hi is None:
        return lo * 2
    return (lo + hi) / 2


def _bracketed(lo: float | None, hi: float | None, tolerance: float) -> bool:
    return lo is not None and hi is not None and (hi - lo) <= tolerance * lo


def search_max_qps(measure: Callable[[float], Point], config: SearchConfig) -> SearchResult:
    """Run the search; ``measure(target_qps)`` returns the point, with ``valid`` set."""
    result = SearchResult()
    lo: float | None = None  # the highest VALID target so far
    hi: float | None = None  # the lowest INVALID target above it
    for _ in range(config.max_runs):
        target = _next_target(lo, hi, config.first_qps)
        if target < config.min_qps:
            break
        point = {**measure(target), "target_qps": target, "order": len(result.points)}
        result.points.append(point)
        if point["valid"]:
            lo = target if lo is None else max(lo, target)
            if hi is not None and hi <= lo:
                hi = None  # noise: a VALID point at or above the bracket's top; widen up again
        else:
            hi = target if hi is None else min(hi, target)
        if _bracketed(lo, hi, config.tolerance):
            result.converged = True
            break
    result.max_valid_qps, result.min_invalid_qps = lo, hi
    return result
