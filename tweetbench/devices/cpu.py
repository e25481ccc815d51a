"""The host CPU, running eager PyTorch."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch

from tweetbench.config import Knob, StepOptions
from tweetbench.devices import knobs
from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec
from tweetbench.devices.rapl import RaplMeter
from tweetbench.records.environment import cpu_model


class CPUBackend(DeviceBackend):
    kind = "cpu"
    synchronous = True
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

    def open_knobs(self, precision: str) -> list[Knob]:
        cpus = knobs.physical_cpus()
        affinity = "" if hasattr(os, "sched_setaffinity") else "this OS cannot pin threads to CPUs"
        return [
            knobs.adam("fused", knobs.fused_adam_problem("cpu")),
            # torch has no fast foreach kernels for the CPU, but its _foreach ops run there: measured, not assumed.
            knobs.adam("foreach"),
            knobs.compiled("inductor", "default", knobs.cxx_compiler_problem()),
            knobs.cuda_graphs("CUDA graphs need a CUDA GPU"),
            knobs.pinned_threads(len(cpus), cpus, affinity),
            knobs.prefetch(1, pinned=False),
        ]

    @contextlib.contextmanager
    def process_settings(self, options: StepOptions) -> Iterator[None]:
        threads, cpus = torch.get_num_threads(), os.sched_getaffinity(0)
        try:
            if options.threads is not None:
                torch.set_num_threads(options.threads)
            if options.cpu_affinity is not None:
                knobs.pin_all_threads(options.cpu_affinity)
            yield
        finally:
            torch.set_num_threads(threads)
            if options.cpu_affinity is not None:
                knobs.pin_all_threads(cpus)
