"""The host CPU, running eager PyTorch."""

from __future__ import annotations

from typing import Any

import torch

from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec
from tweetbench.devices.rapl import RaplMeter
from tweetbench.records.environment import cpu_model


class CPUBackend(DeviceBackend):
    kind = "cpu"
    description = "the host CPU, eager PyTorch"
    label_format = "CPU ({hardware})"
    reference = True
    strategies = ("ddp",)
    _rapl: RaplMeter | None = None

    @classmethod
    def index_problem(cls, spec: DeviceSpec) -> str:
        # One process uses the whole host CPU: there is no cpu:1 to pick.
        return "" if spec.index is None else f"{spec.name} does not exist: the CPU takes no index, write cpu"

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

    def begin_measurement(self) -> None:
        # Energy of the CPU packages over the measured window, from RAPL where it is readable.
        self._rapl = RaplMeter()
        self._rapl.begin()

    def end_measurement(self) -> dict[str, Any]:
        return {} if self._rapl is None else {"energy": self._rapl.end()}

    def supports_precision(self, precision: str) -> tuple[bool, str]:
        if precision in ("32-true", "bf16-mixed"):
            return True, ""
        if precision == "16-mixed":
            return False, "unsupported on this device: Lightning's 16-mixed needs a GPU"
        return False, f"unsupported on this device: {precision} is a GPU/XLA math mode; the CPU computes fp32 as IEEE"
