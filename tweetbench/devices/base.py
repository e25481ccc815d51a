"""The one interface every device backend implements.

The harness talks to a backend only through this interface: it calls ``synchronize()`` before
every clock read and never asks which device it has. Device-specific code lives only in the
backend modules of this package.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class DeviceSpec:
    """A device as the user named it: a kind (``cpu``, ``gpu``, ``tpu``, ``xla-cpu``) and an optional index."""

    kind: str
    index: int | None = None

    @property
    def name(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Availability:
    """Whether a device can run here, what hardware it is and, if not, why."""

    available: bool
    hardware: str
    reason: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


class DeviceBackend(ABC):
    """One device kind: availability, placement, synchronisation, memory and device facts."""

    kind: str = ""
    description: str = ""

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec

    @classmethod
    @abstractmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        """Say whether ``spec`` can run here, without side effects such as network requests."""

    @property
    @abstractmethod
    def torch_device(self) -> torch.device:
        """The device tensors and the model are placed on."""

    @abstractmethod
    def lightning_accelerator(self) -> Any:
        """The ``accelerator`` argument for ``lightning.Trainer``."""

    def lightning_devices(self) -> Any:
        """The ``devices`` argument for ``lightning.Trainer``."""
        return 1 if self.spec.index is None else [self.spec.index]

    @abstractmethod
    def synchronize(self) -> None:
        """Block until all queued work on the device has finished."""

    def setup(self) -> None:
        """Prepare the process for this device (called once, before anything is placed on it)."""

    @property
    def pin_memory(self) -> bool:
        """Whether host batches should be pinned for non-blocking copies."""
        return False

    def reset_peak_memory(self) -> None:
        """Start a new peak-memory window, where the device tracks one."""

    def memory(self) -> dict[str, Any]:
        """Device memory figures, each under its own name; empty where the device reports none."""
        return {}

    def facts(self) -> dict[str, Any]:
        """Hardware and software facts about the device, for the result's environment."""
        return {}

    def supports_precision(self, precision: str) -> tuple[bool, str]:
        """Whether a Lightning precision runs here, and if not, why."""
        return (precision == "32-true", "" if precision == "32-true" else "unsupported on this device")

    def begin_measurement(self) -> None:
        """Called when the measured steps start (after warm-up): start counters and samplers."""

    def end_measurement(self) -> dict[str, Any]:
        """Called right after the last measured step: stop counters, return what they saw."""
        return {}
