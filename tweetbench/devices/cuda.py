"""NVIDIA GPUs through CUDA (``gpu`` or ``gpu:N``).

Steps are timed twice: by the harness's wall clock, read after ``torch.cuda.synchronize()``, and
by CUDA events recorded on the stream at the same points (``CudaEventClock``); the result keeps
both, so that their agreement can be checked. Host batches are pinned so that the copies to the
GPU are non-blocking. During each measured window NVML is sampled in the background (see
``nvml.py``) for utilisation, SM clock, power, energy and throttle reasons.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch

from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec
from tweetbench.devices.clock import DeviceClock
from tweetbench.devices.nvml import NvmlMonitor


class CudaEventClock(DeviceClock):
    """Marks as timing events on this GPU's current stream (see ``DeviceClock``).

    Step marks are recorded just before the harness synchronises, so that the events time the same
    steps as the wall clock. A mark taken in a future's callback lands on the stream the callback was
    handed, which waits for the collective's kernels: so an all-reduce's interval ends when it ends
    on the device (NCCL futures complete when the all-reduce is enqueued).
    """

    source = "cuda-events"
    on_device = True

    def __init__(self, index: int) -> None:
        self.index = index

    def mark(self) -> Any:
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.index))
        return event

    def seconds(self, start: Any, end: Any) -> float:
        end.synchronize()
        return float(start.elapsed_time(end)) / 1e3


def driver_version_from_proc(path: Path = Path("/proc/driver/nvidia/version")) -> str | None:
    """The kernel driver's version from procfs, where NVML cannot say."""
    try:
        match = re.search(r"Kernel Module\s+(?:for\s+\S+\s+)?(\d+(?:\.\d+)+)", path.read_text())
    except OSError:
        return None
    return match.group(1) if match else None


def fp32_math_settings() -> dict[str, Any]:
    """How torch lets fp32 matmuls and cuDNN (the LSTM) use TF32 tensor cores, as set in this process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.9 warns about whichever of its two APIs is read
        settings: dict[str, Any] = {}
        for name, owner in (("cuda_matmul", torch.backends.cuda.matmul), ("cudnn", torch.backends.cudnn),
                            ("cudnn_rnn", getattr(torch.backends.cudnn, "rnn", None))):
            value = getattr(owner, "fp32_precision", None) if owner is not None else None
            if value is not None:
                settings[f"{name}_fp32_precision"] = str(value)
        if not settings:  # torch before 2.9
            settings["cuda_matmul_allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
            settings["cudnn_allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
        settings["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    return settings


class CUDABackend(DeviceBackend):
    kind = "gpu"
    description = "an NVIDIA GPU through CUDA"
    label_format = "GPU ({hardware})"
    strategies = ("ddp",)

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        self._nvml: NvmlMonitor | None = None

    @classmethod
    def _no_gpu_reason(cls) -> str:
        if torch.version.cuda is None:
            return f"this torch ({torch.__version__}) is built without CUDA"
        if not torch.cuda.is_available():
            return "no CUDA GPU found (torch.cuda.is_available() is False)"
        return ""

    @classmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        reason = cls._no_gpu_reason()
        if reason:
            return Availability(False, "none", reason)
        count = torch.cuda.device_count()
        index = spec.index or 0
        if index >= count:
            return Availability(
                False, "none", f"gpu:{index} does not exist: this machine has {count} GPU(s), gpu:0..gpu:{count - 1}"
            )
        props = torch.cuda.get_device_properties(index)
        return Availability(True, props.name, facts={"total_memory_bytes": int(props.total_memory),
                                                     "compute_capability": f"{props.major}.{props.minor}"})

    @classmethod
    def list_specs(cls) -> list[DeviceSpec]:
        """``gpu`` alone, or ``gpu:0`` .. ``gpu:N-1`` when there are several cards."""
        count = 0 if cls._no_gpu_reason() else torch.cuda.device_count()
        return [DeviceSpec(cls.kind, i) for i in range(count)] if count > 1 else [DeviceSpec(cls.kind)]

    @property
    def index(self) -> int:
        return self.spec.index or 0

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cuda", self.index)

    def setup(self) -> None:
        torch.cuda.set_device(self.index)
        self._nvml = NvmlMonitor(self.index)

    def lightning_accelerator(self) -> Any:
        return "cuda"

    def lightning_devices(self) -> Any:
        return [self.index]

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.index)

    def clock(self) -> DeviceClock:
        return CudaEventClock(self.index)

    @property
    def pin_memory(self) -> bool:
        return True

    def begin_measurement(self) -> None:
        if self._nvml is not None:
            self._nvml.begin()

    def end_measurement(self) -> dict[str, Any]:
        if self._nvml is None:
            return {}
        return self._nvml.end()

    def reset_peak_memory(self) -> None:
        torch.cuda.reset_peak_memory_stats(self.index)

    def memory(self) -> dict[str, Any]:
        """torch's peak allocated and reserved bytes, and NVML's used bytes: three different things.

        ``torch_peak_allocated_bytes`` is the most the tensors held; ``torch_peak_reserved_bytes`` what
        torch's caching allocator held from the driver; ``nvml_used_bytes`` the most the whole card
        had in use during the measured windows (every process, CUDA context included).
        """
        memory: dict[str, Any] = {
            "torch_peak_allocated_bytes": int(torch.cuda.max_memory_allocated(self.index)),
            "torch_peak_reserved_bytes": int(torch.cuda.max_memory_reserved(self.index)),
        }
        nvml = self._nvml
        used = None
        if nvml is not None and nvml.device is not None:
            used = nvml.peak_used_bytes or nvml.device.used_bytes()
        if used is not None:
            memory["nvml_used_bytes"] = int(used)
        return memory

    def facts(self) -> dict[str, Any]:
        props = torch.cuda.get_device_properties(self.index)
        facts: dict[str, Any] = {
            "hardware": props.name,
            "compute_capability": f"{props.major}.{props.minor}",
            "multiprocessors": int(props.multi_processor_count),
            "total_memory_bytes": int(props.total_memory),
            "uuid": str(getattr(props, "uuid", "")),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_enabled": bool(torch.backends.cudnn.enabled),  # nn.LSTM runs cuDNN's fused kernel
            "bf16_supported": bool(torch.cuda.is_bf16_supported()),
            "fp32_math": fp32_math_settings(),
        }
        nvml = self._nvml
        if nvml is not None and nvml.device is not None:
            facts.update(nvml.device.facts())
        else:
            facts["nvml"] = f"unavailable: {nvml.reason if nvml is not None else 'not started'}"
        if not facts.get("driver"):
            facts["driver"] = driver_version_from_proc()
        return facts

    def supports_precision(self, precision: str) -> tuple[bool, str]:
        if precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
            return False, "unsupported on this device: no bf16 support"
        return True, ""
