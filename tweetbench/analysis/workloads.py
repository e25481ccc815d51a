"""Whether two results measured the same work: their workload fingerprints, and the closed and open divisions
of one workload (fingerprints that differ only by ``+open``)."""

from __future__ import annotations

from collections.abc import Sequence

from tweetbench.analysis.figures import Record
from tweetbench.config import OPEN_SUFFIX
from tweetbench.errors import ResultsError
from tweetbench.records import K_WORKLOAD, lookup


def _fingerprint(record: Record) -> str:
    return str(lookup(record, K_WORKLOAD, "fingerprint") or "none")


def _workload(record: Record) -> str:
    return f"{record[K_WORKLOAD]['name']} {_fingerprint(record)[:19]}…"


def _division(record: Record) -> str:
    return "open" if _fingerprint(record).endswith(OPEN_SUFFIX) else "closed"


def _across(ra: Record, rb: Record) -> bool:
    """Whether A and B are the two divisions of one workload: their fingerprints differ only by ``+open``."""
    fa, fb = _fingerprint(ra), _fingerprint(rb)
    return fa != fb and fa.removesuffix(OPEN_SUFFIX) == fb.removesuffix(OPEN_SUFFIX)


def _across_notes(pairs: Sequence[tuple[str, Record, Record]]) -> list[str]:
    """One note per direction (A closed and B open, or the reverse), naming its devices."""
    devices: dict[str, list[str]] = {}
    for device, ra, rb in pairs:
        devices.setdefault(f"A is {_division(ra)}, B is {_division(rb)}", []).append(device)
    return [f"across divisions: {sides} (same workload, different implementation): {', '.join(names)}"
            for sides, names in devices.items()]


def check_workloads(pairs: Sequence[tuple[str, Record, Record]], allow: bool,
                    across_divisions: bool = False) -> list[str]:
    """Refuse (``ResultsError``) pairs measured on different workload fingerprints unless ``allow``;
    with ``allow``, return one warning per such pair. With ``across_divisions``, a pair whose fingerprints
    differ only by the ``+open`` suffix (the closed and open divisions of one workload) is compared, with a note."""
    split = [(device, ra, rb) for device, ra, rb in pairs if _fingerprint(ra) != _fingerprint(rb)]
    across = [pair for pair in split if _across(pair[1], pair[2])]
    if across_divisions:
        split = [pair for pair in split if pair not in across]
    differ = [f"{device}: A ran {_workload(ra)}, B ran {_workload(rb)}" for device, ra, rb in split]
    hint = (" (or, where only the division differs, pass --across-divisions to compare the closed and open "
            "divisions of one workload)") if across and not across_divisions else ""
    if split and not allow and len(split) == len(across):
        sides = "; ".join(f"{device}: A is {_division(ra)}, B is {_division(rb)}" for device, ra, rb in across)
        raise ResultsError(f"A and B measured different divisions of one workload ({sides}): the open division may "
                           "compute each step differently; pass --across-divisions to compare the closed and open "
                           "divisions of one workload")
    if split and not allow:
        raise ResultsError(f"A and B measured different workloads ({'; '.join(differ)}): their ratio would compare "
                           f"different work, not different speed. Pass --allow-different-workloads to compare "
                           f"anyway{hint}")
    notes = [f"different workloads: {line}" for line in differ]
    return notes + (_across_notes(across) if across_divisions else [])
