"""The host CPU, running eager PyTorch."""

from __future__ import annotations

from typing import Any

import torch

from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec
from tweetbench.environment import cpu_model


class CPUBackend(DeviceBackend):
    kind = "cpu"
    description = "the host CPU, eager PyTorch"

    @classmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        return Availability(True, cpu_model(), facts={"torch_threads": torch.get_num_threads()})

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cpu")

    def lightning_accelerator(self) -> Any:
        return "cpu"

    def lightning_devices(self) -> Any:
        return 1

    def synchronize(self) -> None:
        # Eager CPU ops complete before they return: nothing is queued.
        return None

    def facts(self) -> dict[str, Any]:
        return {"hardware": cpu_model(), "torch_threads": torch.get_num_threads()}

    def supports_precision(self, precision: str) -> tuple[bool, str]:
        if precision in ("32-true", "bf16-mixed"):
            return True, ""
        return False, "unsupported on this device: Lightning's 16-mixed needs a GPU"
