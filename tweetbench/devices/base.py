"""The one interface every device backend implements.

The harness talks to a backend only through this interface: it calls ``synchronize()`` before
every clock read and never asks which device it has. Device-specific code lives only in the
backend modules of this package.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from tweetbench.config import Knob, StepOptions
from tweetbench.devices.clock import DeviceClock

# What each precision computes, where the device does not say more (see configure_precision).
MATH_MODES = {
    "32-true": "fp32 IEEE",
    "bf16-mixed": "bf16 autocast, fp32 weights",
    "16-mixed": "fp16 autocast, fp32 weights",
}


def file_stem(device: str) -> str:
    """A device name as a file or directory name: ``gpu:1`` -> ``gpu-1`` (a colon is not portable)."""
    return device.replace(":", "-")


@dataclass(frozen=True)
class DeviceSpec:
    """A device as the user named it: a kind (``cpu``, ``gpu``, ``tpu``, ``xla-cpu``) and an optional index.

    A data-parallel run (``--strategy``) names a device *count* per node instead (``gpu:8``): then
    ``count`` is set and ``index`` is None.
    """

    kind: str
    index: int | None = None
    count: int | None = None

    @property
    def name(self) -> str:
        if self.count is not None:
            return f"{self.kind}:{self.count}"
        return self.kind if self.index is None else f"{self.kind}:{self.index}"

    @property
    def file_stem(self) -> str:
        """The device's name where a file or directory is named after it (see ``file_stem``)."""
        return file_stem(self.name)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Availability:
    """Whether a device can run here, what hardware it is and, if not, why."""

    available: bool
    hardware: str
    reason: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def energy_window(source: str, scope: str, *, joules: float | None, window_s: float,
                  reason: str = "") -> dict[str, Any]:
    """The energy a device used over one measured window, as every backend reports it.

    ``joules`` is None when the energy could not be measured; ``reason`` then says why.
    """
    usable = joules is not None and window_s > 0
    return {
        "source": source,
        "scope": scope,
        "joules": joules,
        "window_s": window_s,
        "mean_power_w": joules / window_s if usable else None,  # type: ignore[operator]
        "reason": "" if joules is not None else reason,
    }


class DeviceBackend(ABC):
    """One device kind: availability, placement, synchronisation, memory and device facts."""

    kind: str = ""
    # Multiplies the preset's default per-device timeout (a device that compiles needs longer).
    default_timeout_scale: float = 1.0
    description: str = ""
    # The data-parallel strategies (tweetbench run --strategy) this kind runs; none by default.
    strategies: tuple[str, ...] = ()
    # What a reader sees, with ``{hardware}`` filled in (XLA on the host CPU is never called a TPU).
    label_format: str = "{hardware}"
    # The reference device: every speedup and parity check in a report is taken against it.
    reference: bool = False
    # Runs each op before it returns (the CPU): no host/device overlap exists to gain, so an overlap gain
    # measured there only shows how the machine's speed changed between two windows (analysis/overlap.py).
    synchronous: bool = False

    @classmethod
    def label(cls, hardware: str, math_mode: str | None = None) -> str:
        """The device's name in every report, e.g. ``GPU (NVIDIA H100)``, and the math that really ran
        (``configure_precision``) when it ran: ``GPU (NVIDIA H100) [fp32 IEEE]``."""
        name = cls.label_format.format(hardware=hardware)
        return name if math_mode is None else f"{name} [{math_mode}]"

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec

    @classmethod
    @abstractmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        """Say whether ``spec`` can run here, without side effects such as network requests."""

    @classmethod
    def index_problem(cls, spec: DeviceSpec) -> str:
        """Why ``spec``'s index names no device of this kind here, or '' if it may.

        Checked up front, as a usage error. Only an index that cannot exist is a problem: a device
        kind that is absent from this machine is not, since ``probe`` then reports it unavailable.
        """
        return ""

    @classmethod
    def strategy_problem(cls, strategy: str, count: int) -> str:
        """Why ``--strategy strategy`` cannot run over ``count`` devices of this kind, or '' (then
        the strategy must still be one of ``strategies``). Checked up front, as a usage error."""
        return ""

    @classmethod
    def list_specs(cls) -> list[DeviceSpec]:
        """The devices of this kind that ``tweetbench devices`` lists (one, unless there are several cards)."""
        return [DeviceSpec(cls.kind)]

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

    def step_boundary(self) -> None:
        """Mark the end of a step without waiting for the device (inside an overlapped window).

        Nothing by default: eager devices run what they are given. On XLA it cuts the graph, so that
        each step is executed (asynchronously) rather than traced into one ever-growing graph.
        """

    @property
    def part_sync(self) -> Callable[[], None] | None:
        """What the profiled passes call between the parts of a step (forward, backward, optimizer).

        By default ``synchronize``, so that each profiled part includes its device work. None where a
        sync inside a step would change the work itself (on XLA it splits the step's graph into new
        graphs, each compiled anew); the parts then time the host side only.
        """
        return self.synchronize

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
        """Whether a workload precision runs here, and if not, why."""
        return (precision == "32-true", "" if precision == "32-true" else "unsupported on this device")

    def configure_precision(self, precision: str) -> dict[str, Any]:
        """Set this device's math mode for ``precision`` (after ``setup``, before any work) and say what
        really runs: ``math_mode``, the words every report label carries, and the settings read back."""
        return {"math_mode": MATH_MODES.get(precision, precision)}

    def optimizer_options(self, precision: str) -> dict[str, Any]:
        """Extra ``torch.optim.Adam`` arguments on this device: the same Adam, computed the device's way."""
        return {}

    def open_knobs(self, precision: str) -> list[Knob]:
        """Every open-division knob this device is offered, each with why it cannot run here ('' where it
        can): the Adam implementation, torch.compile, CUDA graphs, threads, the loader (devices/knobs.py)."""
        return []

    @contextlib.contextmanager
    def process_settings(self, options: StepOptions) -> Iterator[None]:
        """Apply the process-wide part of ``options`` (CPU threads and affinity) for a block, then restore it."""
        yield

    def process_env(self, options: StepOptions) -> dict[str, str]:
        """The environment a process must start with to compute a step the ``options``' way, read once when the
        device's library loads ({}: nothing; the knob then runs in this process). A knob that needs one is
        measured in worker processes of its own (``scenarios/knob_process.py``)."""
        return {}

    def clock(self) -> DeviceClock:
        """This device's clock (see ``DeviceClock``): its own where it has one, else the host's."""
        return DeviceClock()

    def peak_probe_problem(self) -> str:
        """Why the matmul peak probe cannot be trusted on this device, or '' when it can."""
        return ""

    def begin_measurement(self) -> None:
        """Called when the measured steps start (after warm-up): start counters and samplers."""

    def end_measurement(self) -> dict[str, Any]:
        """Called right after the last measured step: stop counters, return what they saw."""
        return {}

    def check_measurement(self, window: Mapping[str, Any]) -> str:
        """Why a measured window (what ``end_measurement`` returned) is not valid, or '' if it is.

        XLA, for one, refuses a window that contains a graph compilation.
        """
        return ""

    def measurement_warning(self, window: Mapping[str, Any], steps: int, allowed_transfers: int) -> str:
        """What a valid measured window of ``steps`` steps did that a reader must know, or ''.

        XLA warns of more host-to-device transfers per step than ``allowed_transfers`` (the batch's
        own tensors and the RNG seed): the step goes back to the host, so the host may bound it.
        """
        return ""

    def device_loader(self, loader: Any) -> Any:
        """``loader`` as this device wants it fed (XLA: prefetched to the device); by default as it is."""
        return loader

    def counters(self) -> dict[str, Any]:
        """The device runtime's cumulative counters for this process (e.g. XLA compilations); empty if none.

        Numbers, or mappings of name -> number; ``diff_counters`` subtracts two snapshots.
        """
        return {}


def diff_counters(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """``after - before`` for two ``DeviceBackend.counters()`` snapshots (nested mappings too; zeros dropped there)."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping):
            nested = diff_counters(value, old if isinstance(old, Mapping) else {})
            out[key] = {name: n for name, n in nested.items() if n}
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value - (old if isinstance(old, int | float) and not isinstance(old, bool) else 0)
        else:
            out[key] = value
    return out
