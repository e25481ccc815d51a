"""Device backends behind one interface, and the registry that maps names to them."""

from __future__ import annotations

from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec
from tweetbench.devices.cpu import CPUBackend
from tweetbench.devices.cuda import CUDABackend
from tweetbench.devices.xla import TPUBackend, XLACPUBackend
from tweetbench.errors import UsageError

BACKENDS: dict[str, type[DeviceBackend]] = {
    backend.kind: backend for backend in (CPUBackend, CUDABackend, TPUBackend, XLACPUBackend)
}

__all__ = [
    "BACKENDS",
    "Availability",
    "DeviceBackend",
    "DeviceSpec",
    "create_backend",
    "parse_device",
    "parse_device_list",
    "probe",
]


def parse_device(text: str) -> DeviceSpec:
    """Parse ``cpu``, ``gpu``, ``gpu:N``, ``tpu`` or ``xla-cpu``."""
    kind, sep, index_text = text.strip().lower().partition(":")
    if kind not in BACKENDS:
        raise UsageError(f"unknown device {text!r}: choose from {', '.join(BACKENDS)} (e.g. --devices cpu,gpu)")
    if not sep:
        return DeviceSpec(kind)
    if not index_text.isdigit():
        raise UsageError(f"bad device index in {text!r}: write {kind}:N with N a whole number, e.g. {kind}:0")
    return DeviceSpec(kind, int(index_text))


def parse_device_list(text: str) -> list[DeviceSpec]:
    """Parse a comma-separated device list, refusing empty and repeated entries."""
    names = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise UsageError("--devices is empty or has an empty entry: give e.g. --devices cpu,gpu,tpu")
    specs = [parse_device(name) for name in names]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise UsageError(f"device {spec.name!r} is listed twice in --devices: list each device once")
        seen.add(spec.name)
    return specs


def probe(spec: DeviceSpec) -> Availability:
    """Whether ``spec`` can run here, and why not."""
    return BACKENDS[spec.kind].probe(spec)


def create_backend(spec: DeviceSpec) -> DeviceBackend:
    return BACKENDS[spec.kind](spec)
