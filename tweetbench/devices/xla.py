"""XLA devices: TPU chips (``tpu``) and the XLA compiler on the host CPU (``xla-cpu``)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Any

import torch

from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec
from tweetbench.devices.tpu_guard import tpu_chip_count


def torch_xla_version() -> str | None:
    try:
        return importlib.metadata.version("torch_xla")
    except importlib.metadata.PackageNotFoundError:
        return None


def _torch_xla_problem() -> str:
    """Why torch_xla cannot be used here, or '' if it can (checked without importing it)."""
    if importlib.util.find_spec("torch_xla") is None:
        return "torch_xla is not installed (install the project's 'xla' extra: pip install -e '.[xla]')"
    version = torch_xla_version() or "?"
    base = torch.__version__.split("+")[0]
    if version.split("+")[0] != base:
        return f"torch_xla {version} needs the same torch version, but torch is {torch.__version__}"
    return ""


class TPUBackend(DeviceBackend):
    kind = "tpu"
    description = "TPU chips through XLA"

    @classmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        chips = tpu_chip_count()
        if chips == 0:
            return Availability(False, "none", "no TPU chip found on the PCI bus")
        problem = _torch_xla_problem()
        if problem:
            return Availability(False, f"{chips} TPU chip(s)", problem)
        return Availability(True, f"{chips} TPU chip(s)")

    @property
    def torch_device(self) -> torch.device:
        raise NotImplementedError

    def lightning_accelerator(self) -> Any:
        raise NotImplementedError

    def synchronize(self) -> None:
        raise NotImplementedError


class XLACPUBackend(TPUBackend):
    kind = "xla-cpu"
    description = "the XLA compiler on the host CPU (PJRT_DEVICE=CPU), not a TPU"

    @classmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        problem = _torch_xla_problem()
        if problem:
            return Availability(False, "none", problem)
        return Availability(True, "XLA on CPU")
