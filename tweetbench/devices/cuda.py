"""NVIDIA GPUs through CUDA (``gpu`` or ``gpu:N``)."""

from __future__ import annotations

from typing import Any

import torch

from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec


class CUDABackend(DeviceBackend):
    kind = "gpu"
    description = "an NVIDIA GPU through CUDA"

    @classmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        if torch.version.cuda is None:
            return Availability(False, "none", f"this torch ({torch.__version__}) is built without CUDA")
        if not torch.cuda.is_available():
            return Availability(False, "none", "no CUDA GPU found (torch.cuda.is_available() is False)")
        count = torch.cuda.device_count()
        index = spec.index or 0
        if index >= count:
            return Availability(
                False, "none", f"gpu:{index} does not exist: this machine has {count} GPU(s), gpu:0..gpu:{count - 1}"
            )
        return Availability(True, torch.cuda.get_device_name(index))

    @property
    def index(self) -> int:
        return self.spec.index or 0

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cuda", self.index)

    def setup(self) -> None:
        torch.cuda.set_device(self.index)

    def lightning_accelerator(self) -> Any:
        return "cuda"

    def lightning_devices(self) -> Any:
        return [self.index]

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.index)

    @property
    def pin_memory(self) -> bool:
        return True

    def reset_peak_memory(self) -> None:
        torch.cuda.reset_peak_memory_stats(self.index)

    def memory(self) -> dict[str, Any]:
        return {
            "torch_peak_allocated_bytes": int(torch.cuda.max_memory_allocated(self.index)),
            "torch_peak_reserved_bytes": int(torch.cuda.max_memory_reserved(self.index)),
        }

    def facts(self) -> dict[str, Any]:
        props = torch.cuda.get_device_properties(self.index)
        return {
            "hardware": props.name,
            "compute_capability": f"{props.major}.{props.minor}",
            "total_memory_bytes": int(props.total_memory),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }

    def supports_precision(self, precision: str) -> tuple[bool, str]:
        if precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
            return False, "unsupported on this device: no bf16 support"
        return True, ""
