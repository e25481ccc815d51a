"""Device backends behind one interface, and the registry that maps names to them."""

from __future__ import annotations

from typing import Any

from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec, file_stem
from tweetbench.devices.cpu import CPUBackend
from tweetbench.devices.cuda import CUDABackend
from tweetbench.devices.xla import TPUBackend, XLACPUBackend
from tweetbench.errors import UsageError
from tweetbench.records.keys import REFERENCE_KIND

BACKENDS: dict[str, type[DeviceBackend]] = {
    backend.kind: backend for backend in (CPUBackend, CUDABackend, TPUBackend, XLACPUBackend)
}

# The kind every report compares the others against is a literal in records.keys, where a renderer reads it
# without importing the backends (and torch); it must be the kind of the one backend flagged ``reference``.
assert [kind for kind, backend in BACKENDS.items() if backend.reference] == [REFERENCE_KIND], REFERENCE_KIND

__all__ = [
    "BACKENDS",
    "Availability",
    "DeviceBackend",
    "DeviceSpec",
    "create_backend",
    "describe",
    "file_stem",
    "parse_device",
    "parse_device_list",
    "probe",
]


def parse_device(text: str, *, counted: bool = False) -> DeviceSpec:
    """Parse ``cpu``, ``gpu``, ``gpu:N``, ``tpu`` or ``xla-cpu``.

    With ``counted`` (a data-parallel run, ``--strategy``), ``kind:N`` means N devices per node
    and the count is required; without it, ``gpu:N`` picks card N.
    """
    kind, sep, index_text = text.strip().lower().partition(":")
    if kind not in BACKENDS:
        raise UsageError(f"unknown device {text!r}: choose from {', '.join(BACKENDS)} (e.g. --devices cpu,gpu)")
    if counted:
        if not (sep and index_text.isascii() and index_text.isdigit() and int(index_text) >= 1):
            raise UsageError(f"with --strategy, give each device as {kind}:N, N devices per node (e.g. "
                             f"{kind}:2), not {text.strip()!r}")
        return DeviceSpec(kind, count=int(index_text))
    if not sep:
        return DeviceSpec(kind)
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    if not (index_text.isascii() and index_text.isdigit()):
        raise UsageError(f"bad device index in {text!r}: write {kind}:N with N a whole number, e.g. {kind}:0")
    return DeviceSpec(kind, int(index_text))


def parse_device_list(text: str, *, counted: bool = False) -> list[DeviceSpec]:
    """Parse a comma-separated device list, refusing empty and repeated entries and device indices
    that cannot exist here (``gpu:7`` on a machine with one GPU). ``counted``: see ``parse_device``."""
    names = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise UsageError("--devices is empty or has an empty entry: give e.g. --devices cpu,gpu,tpu")
    specs = [parse_device(name, counted=counted) for name in names]
    if counted:
        # Counts are checked against the machine by probe(): too few devices is "unavailable".
        if len({spec.name for spec in specs}) < len(specs):
            raise UsageError("a device count is listed twice in --devices: list each one once")
        return specs
    seen: dict[tuple[str, int], str] = {}
    for spec in specs:
        key = (spec.kind, spec.index or 0)  # gpu and gpu:0 are the same card
        if key in seen:
            also = "" if seen[key] == spec.name else f" (as {seen[key]!r})"
            raise UsageError(f"device {spec.name!r} is listed twice in --devices{also}: list each device once")
        seen[key] = spec.name
    for spec in specs:
        problem = BACKENDS[spec.kind].index_problem(spec)
        if problem:
            raise UsageError(f"{problem} (in --devices)")
    return specs


def probe(spec: DeviceSpec) -> Availability:
    """Whether ``spec`` can run here, and why not (for a device count: whether there are that many)."""
    if spec.count is None:
        return BACKENDS[spec.kind].probe(spec)
    availability = BACKENDS[spec.kind].probe(DeviceSpec(spec.kind))
    if availability.available and spec.count > 1:
        # The last local device must exist; a kind without indices (the CPU) ignores this.
        last = BACKENDS[spec.kind].probe(DeviceSpec(spec.kind, spec.count - 1))
        if not last.available:
            return Availability(False, availability.hardware, f"{spec.count} devices per node asked for: "
                                f"{last.reason}")
    return availability


def create_backend(spec: DeviceSpec) -> DeviceBackend:
    return BACKENDS[spec.kind](spec)


def describe(spec: DeviceSpec, availability: Availability, facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``device`` section of a result: name, kind, the label a reader sees (with the math mode, once
    ``facts`` holds it), hardware and facts."""
    merged = {**availability.facts, **(facts or {})}
    return {
        "name": spec.name,
        "kind": spec.kind,
        "label": BACKENDS[spec.kind].label(availability.hardware, merged.get("math_mode")),
        "hardware": availability.hardware,
        "facts": merged,
    }
