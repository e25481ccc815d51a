"""What an NVIDIA GPU reports about itself through NVML (``nvidia-ml-py``), sampled during measurement.

During each measured window a background thread samples utilisation, SM clock, power and used
memory every ``interval_s``; the energy of the window is the difference of NVML's total energy
counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules since the driver loaded) between
its start and its end, and the clock throttle reasons are read at both ends.

NVML sees the whole GPU: its power, energy and used memory include every process on the card
(and this process's CUDA context), not only the benchmark's tensors. Where NVML is missing (no
``nvidia-ml-py``, no driver library) or a query is not supported by the card, the figure is
absent and the reason is recorded; nothing here raises.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from tweetbench.analysis.summary import Summary
from tweetbench.devices.base import energy_window

SCOPE = "the whole GPU (every process on it), from NVML"
DEFAULT_INTERVAL_S = 0.05
# NVML's clock event ("throttle") reason bits, from nvml.h.
THROTTLE_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
SAMPLED = ("gpu_util_pct", "memory_util_pct", "sm_clock_mhz", "power_w", "used_bytes")

Reading = Mapping[str, float | None]


def decode_throttle_reasons(mask: int) -> list[str]:
    """The names of the reasons set in an NVML throttle bit mask (``[]`` when none is)."""
    names = [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
    unknown = mask & ~sum(THROTTLE_REASONS)
    if unknown:
        names.append(f"unknown_{unknown:#x}")
    return names


@functools.lru_cache(maxsize=1)
def nvml_problem() -> str:
    """Why NVML cannot be used in this process, or '' once it is initialised."""
    try:  # imported where it is used, after this check: a missing or broken install is a reason, not a crash
        import pynvml
    except ImportError:
        return "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return f"NVML did not start: {exc}"
    return ""


def cuda_version_text(version: int) -> str:
    """NVML's integer CUDA version (12040) as text (12.4)."""
    return f"{version // 1000}.{version % 1000 // 10}"


class NvmlDevice:
    """One GPU's NVML handle; each query returns None where the card does not support it."""

    def __init__(self, handle: Any) -> None:
        import pynvml

        self._nvml = pynvml
        self.handle = handle
        self.unsupported: dict[str, str] = {}

    @classmethod
    def for_torch_index(cls, index: int) -> tuple[NvmlDevice | None, str]:
        """The NVML device behind torch's ``cuda:index``, or (None, why not).

        torch numbers GPUs after ``CUDA_VISIBLE_DEVICES`` and fastest-first; NVML numbers them all
        in PCI order. The UUID is the same in both, so that is what maps one to the other.
        """
        problem = nvml_problem()
        if problem:
            return None, problem
        import pynvml

        props = torch.cuda.get_device_properties(index)
        uuid = str(getattr(props, "uuid", "") or "")
        problems = []
        if uuid:
            try:
                name = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
                return cls(pynvml.nvmlDeviceGetHandleByUUID(name)), ""
            except pynvml.NVMLError as exc:
                problems.append(f"no GPU with torch's UUID {uuid} ({exc})")
        bus = getattr(props, "pci_bus_id", None)
        if bus is not None:
            # The PCI address is the other name both sides share (torch reports it from 2.6 on).
            address = f"{getattr(props, 'pci_domain_id', 0):08X}:{bus:02X}:{getattr(props, 'pci_device_id', 0):02X}.0"
            try:
                return cls(pynvml.nvmlDeviceGetHandleByPciBusId(address)), ""
            except pynvml.NVMLError as exc:
                problems.append(f"no GPU at PCI {address} ({exc})")
        why = "; ".join(problems) or f"torch {torch.__version__} reports neither UUID nor PCI address"
        return None, f"NVML cannot find torch's GPU: {why}"

    def query(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(handle, *args)``, or None (remembering why) if NVML refuses it."""
        if name in self.unsupported:
            return None
        try:
            return fn(self.handle, *args)
        except self._nvml.NVMLError as exc:
            self.unsupported[name] = str(exc)
            return None

    def read(self) -> dict[str, float | None]:
        """One sample of every sampled figure (None where unsupported)."""
        nv = self._nvml
        rates = self.query("utilization", nv.nvmlDeviceGetUtilizationRates)
        power_mw = self.query("power", nv.nvmlDeviceGetPowerUsage)
        memory = self.query("memory", nv.nvmlDeviceGetMemoryInfo)
        return {
            "t": time.perf_counter(),
            "gpu_util_pct": None if rates is None else float(rates.gpu),
            "memory_util_pct": None if rates is None else float(rates.memory),
            "sm_clock_mhz": self.query("sm_clock", nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_SM),
            "power_w": None if power_mw is None else power_mw / 1000.0,
            "used_bytes": None if memory is None else float(memory.used),
            "energy_mj": self.energy_mj(),
        }

    def energy_mj(self) -> int | None:
        return self.query("energy", self._nvml.nvmlDeviceGetTotalEnergyConsumption)

    def throttle_mask(self) -> int | None:
        # The newer name first (drivers from 535 on); the older one is deprecated but kept.
        fn = getattr(self._nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        mask = None if fn is None else self.query("throttle_events", fn)
        if mask is None:
            mask = self.query("throttle", self._nvml.nvmlDeviceGetCurrentClocksThrottleReasons)
        return None if mask is None else int(mask)

    def used_bytes(self) -> int | None:
        memory = self.query("memory", self._nvml.nvmlDeviceGetMemoryInfo)
        return None if memory is None else int(memory.used)

    def facts(self) -> dict[str, Any]:
        """Driver, CUDA driver version and power limit, as NVML reports them."""
        nv = self._nvml
        facts: dict[str, Any] = {}
        try:
            facts["driver"] = str(nv.nvmlSystemGetDriverVersion())
            facts["cuda_driver"] = cuda_version_text(int(nv.nvmlSystemGetCudaDriverVersion_v2()))
        except nv.NVMLError as exc:
            facts["driver_error"] = str(exc)
        limit = self.query("power_limit", nv.nvmlDeviceGetEnforcedPowerLimit)
        facts["power_limit_w"] = None if limit is None else limit / 1000.0
        max_sm = self.query("max_sm_clock", nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_SM)
        facts["max_sm_clock_mhz"] = max_sm
        return facts


class BackgroundSampler:
    """Calls ``read()`` every ``interval_s`` on a daemon thread, plus once at start and once at stop."""

    def __init__(self, read: Callable[[], Reading], interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.read = read
        self.interval_s = interval_s
        self.samples: list[Reading] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.samples = [self.read()]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tweetbench-nvml", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append(self.read())

    def stop(self) -> list[Reading]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.samples.append(self.read())
        return self.samples


def summarize(samples: list[Reading], names: tuple[str, ...] = SAMPLED) -> dict[str, Any]:
    """A ``Summary`` of each sampled figure that has at least one value."""
    out: dict[str, Any] = {}
    for name in names:
        values = [float(s[name]) for s in samples if s.get(name) is not None]  # type: ignore[arg-type]
        if values:
            out[name] = Summary.from_samples(values).to_dict()
    return out


def power_integral_j(samples: list[Reading]) -> float | None:
    """Energy from the power samples (trapezoids): the fallback where the energy counter is unsupported."""
    points = [(float(s["t"]), float(s["power_w"])) for s in samples  # type: ignore[arg-type]
              if s.get("t") is not None and s.get("power_w") is not None]
    if len(points) < 2:
        return None
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(points, points[1:]))


# NVML's energy counter and power readings update every ~20-100 ms: under a second they miscount.
MIN_ENERGY_WINDOW_S = 1.0


def window_energy(samples: list[Reading], window_s: float) -> dict[str, Any]:
    """The energy of a window from its samples: the counter's difference, else the power integral;
    none for a window under ``MIN_ENERGY_WINDOW_S`` (marked "window too short")."""
    if window_s < MIN_ENERGY_WINDOW_S:
        return energy_window("nvml-energy-counter", SCOPE, joules=None, window_s=window_s,
                             reason=f"window too short: {window_s * 1e3:.0f} ms, under the {MIN_ENERGY_WINDOW_S:.0f} s "
                                    "NVML needs to count energy")
    counter = [int(s["energy_mj"]) for s in samples if s.get("energy_mj") is not None]  # type: ignore[arg-type]
    if len(counter) >= 2:
        updates = len(set(counter)) - 1
        if updates == 0:
            return energy_window("nvml-energy-counter", SCOPE, joules=None, window_s=window_s,
                                 reason=f"NVML's energy counter did not advance in the {window_s * 1e3:.0f} ms "
                                        "window: too short to measure")
        record = energy_window("nvml-energy-counter", SCOPE, joules=(counter[-1] - counter[0]) / 1e3,
                               window_s=window_s)
        record["counter_updates"] = updates
        return record
    joules = power_integral_j(samples)
    return energy_window("nvml-power-integral", SCOPE, joules=joules, window_s=window_s,
                         reason="NVML reports neither total energy nor power for this GPU")


class NvmlMonitor:
    """NVML sampling over the measured windows of one GPU (``begin()`` ... ``end()``, repeatable)."""

    def __init__(self, index: int, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.device, self.reason = NvmlDevice.for_torch_index(index)
        self.interval_s = interval_s
        self.peak_used_bytes: int | None = None
        self._sampler: BackgroundSampler | None = None
        self._throttle_start: int | None = None
        self._started_at = 0.0

    @property
    def available(self) -> bool:
        return self.device is not None

    def begin(self) -> None:
        if self.device is None:
            return
        self._throttle_start = self.device.throttle_mask()
        self._sampler = BackgroundSampler(self.device.read, self.interval_s)
        self._started_at = time.perf_counter()
        self._sampler.start()

    def end(self) -> dict[str, Any]:
        """What NVML saw since ``begin()``: ``{"energy": ..., "nvml": ...}``."""
        window_s = time.perf_counter() - self._started_at
        if self.device is None or self._sampler is None:
            why = f"NVML unavailable: {self.reason}" if self.device is None else "no window was begun"
            return {"energy": energy_window("nvml-energy-counter", SCOPE, joules=None, window_s=window_s,
                                            reason=why)}
        samples = self._sampler.stop()
        self._sampler = None
        throttle_end = self.device.throttle_mask()
        used = [int(s["used_bytes"]) for s in samples if s.get("used_bytes") is not None]  # type: ignore[arg-type]
        if used:
            self.peak_used_bytes = max(used + ([self.peak_used_bytes] if self.peak_used_bytes else []))
        nvml: dict[str, Any] = {
            "samples": len(samples),
            "interval_s": self.interval_s,
            **summarize(samples),
            "throttle_reasons_start": None if self._throttle_start is None
            else decode_throttle_reasons(self._throttle_start),
            "throttle_reasons_end": None if throttle_end is None else decode_throttle_reasons(throttle_end),
        }
        if self.device.unsupported:
            nvml["unsupported"] = dict(self.device.unsupported)
        return {"energy": window_energy(samples, window_s), "nvml": nvml}
