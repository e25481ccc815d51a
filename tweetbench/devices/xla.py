"""XLA devices: TPU chips (``tpu``) and the XLA compiler on the host CPU (``xla-cpu``).

XLA traces lazily and compiles one executable per distinct graph, so the first step of every new
shape costs a compile (seconds to minutes) and later steps replay it. The backend therefore

- synchronises by cutting the graph (``torch_xla.sync()``) and then *waiting* for the device
  (``xm.wait_device_ops()``): the cut alone returns before the work is done;
- reads torch_xla's debug metrics (compile count and time, execute time, cache hits and the
  ``aten::*`` ops that fell back to the CPU) as cumulative ``counters()``, and diffs them around
  each measured window so that a compile inside the measured steps is caught
  (``check_measurement``).

Probes never import torch_xla and never call its TPU helpers: those ask a cloud metadata server
over HTTP for the TPU version, which on any other machine fails or hangs. ``xla-cpu`` sets
``PJRT_DEVICE=CPU`` before torch_xla is first imported (in the worker, in ``setup()``) and is
always labelled XLA on CPU, never TPU.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Mapping
from typing import Any

import torch

from tweetbench.devices.base import (
    Availability,
    DeviceBackend,
    DeviceSpec,
    diff_counters,
)
from tweetbench.devices.tpu_guard import tpu_chip_count
from tweetbench.errors import UsageError

PJRT_ENV = "PJRT_DEVICE"
# Lightning's XLA precision plugin accepts only these (bf16-mixed / 16-mixed are GPU/CPU AMP modes).
XLA_PRECISIONS = ("32-true", "16-true", "bf16-true")
FALLBACK_PREFIX = "aten::"


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


def xla_counters() -> dict[str, Any]:
    """torch_xla's cumulative debug metrics for this process, in seconds and counts.

    ``compile_*``: graphs compiled by XLA; ``cached_compile_count``: graphs found in the
    in-memory compile cache instead; ``execute_*``: executions of compiled graphs;
    ``fallback_ops``: ``aten::*`` ops that ran on the CPU because XLA has no lowering for them.
    """
    import torch_xla.debug.metrics as met

    def metric(name: str) -> tuple[int, float]:
        data = met.metric_data(name)
        if not data:
            return 0, 0.0
        count, total_ns, _samples = data
        return int(count), float(total_ns) / 1e9

    def counter(name: str) -> int:
        value = met.counter_value(name)
        return int(value) if value is not None else 0

    compile_count, compile_s = metric("CompileTime")
    execute_count, execute_s = metric("ExecuteTime")
    to_device_count, to_device_s = metric("TransferToDeviceTime")
    from_device_count, from_device_s = metric("TransferFromDeviceTime")
    fallbacks = {name: counter(name) for name in met.counter_names() if name.startswith(FALLBACK_PREFIX)}
    return {
        "compile_count": compile_count,
        "compile_s": compile_s,
        "cached_compile_count": counter("CachedCompile"),
        "execute_count": execute_count,
        "execute_s": execute_s,
        "transfer_to_device_count": to_device_count,
        "transfer_to_device_s": to_device_s,
        "transfer_from_device_count": from_device_count,
        "transfer_from_device_s": from_device_s,
        "graph_cuts": counter("MarkStep"),
        "fallback_ops": {name: n for name, n in fallbacks.items() if n},
    }


def compile_problem(window: Mapping[str, Any]) -> str:
    """Why a measured window is not valid: the XLA compilations it contains, or ''."""
    count = int(window.get("compile_count") or 0)
    if count <= 0:
        return ""
    plural = "compilation" if count == 1 else "compilations"
    return f"{count} XLA {plural} during the measured steps ({float(window.get('compile_s') or 0.0):.1f} s)"


@functools.lru_cache(maxsize=1)
def _pjrt_cpu_accelerator_class() -> type:
    """Lightning's XLAAccelerator, made to accept the one CPU-backed PJRT device.

    Lightning counts TPU chips only, so ``Trainer(accelerator="tpu")`` refuses ``xla:0`` backed by
    the CPU. Built on first use so that the parent CLI does not import Lightning for a probe.
    Being an ``XLAAccelerator`` is what makes Lightning pick its single-device XLA strategy and
    precision plugin (``xm.mark_step()`` after each optimizer step) and ``no_grad`` for predict.
    """
    from pytorch_lightning.accelerators.xla import XLAAccelerator

    class PJRTCPUAccelerator(XLAAccelerator):
        """XLA on the host CPU through PJRT (``PJRT_DEVICE=CPU``): one device, ``xla:0``."""

        @staticmethod
        def is_available() -> bool:
            return True

        @staticmethod
        def auto_device_count() -> int:
            return 1

        @staticmethod
        def parse_devices(devices: Any) -> int:
            if devices in (1, "1", "auto", [0], (0,)):
                return 1
            raise ValueError(f"XLA on CPU has exactly one device (xla:0); got devices={devices!r}")

        @staticmethod
        def get_parallel_devices(devices: Any) -> list[torch.device]:
            return [torch.device("xla", 0)]

    return PJRTCPUAccelerator


class _XLABackend(DeviceBackend):
    """What TPU and XLA-on-CPU share: lazy tensors, graph cuts, compile metrics."""

    pjrt_device = ""
    # v1 on XLA-on-CPU compiles for about 20 minutes of a quick run; measured 77 min under heavy load.
    default_timeout_scale = 4.0

    def peak_probe_problem(self) -> str:
        # The probe times eager chains of matmuls; under XLA's lazy tensors an unused result is never
        # executed (it measured 1e17 FLOP/s here), and keeping it compiles one huge graph per size.
        return "not measured on XLA: the matmul probe needs an XLA-specific version (one fixed compiled graph)"

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        self._window_start: dict[str, Any] | None = None

    @property
    def index(self) -> int:
        return self.spec.index or 0

    def setup(self) -> None:
        current = os.environ.get(PJRT_ENV)
        if "torch_xla" in sys.modules and current != self.pjrt_device:
            # PJRT reads the variable once, when torch_xla first creates its client.
            raise UsageError(f"torch_xla was already started with {PJRT_ENV}={current!r}; {self.spec.name} needs "
                             f"{PJRT_ENV}={self.pjrt_device}: run it in its own process")
        os.environ[PJRT_ENV] = self.pjrt_device
        import torch_xla  # noqa: F401  (starts the PJRT client for this device type)

    @property
    def torch_device(self) -> torch.device:
        import torch_xla

        return torch_xla.device(self.index)

    def synchronize(self) -> None:
        import torch_xla
        import torch_xla.core.xla_model as xm

        # sync() cuts the graph and dispatches it asynchronously; only wait_device_ops() blocks.
        torch_xla.sync()
        xm.wait_device_ops()

    @property
    def part_sync(self) -> None:
        # A cut between forward, backward and optimizer would split the step's one graph into
        # three new ones, each compiled anew: the profiled passes then reuse the timed pass's graph.
        return None

    def supports_precision(self, precision: str) -> tuple[bool, str]:
        if precision in XLA_PRECISIONS:
            return True, ""
        return False, (f"unsupported on this device: Lightning's XLA plugin runs {', '.join(XLA_PRECISIONS)}, "
                       f"not {precision}")

    def memory(self) -> dict[str, Any]:
        import torch_xla.core.xla_model as xm

        try:
            info = xm.get_memory_info(self.torch_device)
        except RuntimeError:
            return {}  # PJRT on the CPU keeps no allocator statistics
        # torch_xla's keys (bytes_used, bytes_limit, peak_bytes_used) -> xla_used_bytes, xla_limit_bytes, ...
        return {f"xla_{key.replace('bytes_', '').replace('_bytes', '')}_bytes": int(value)
                for key, value in info.items() if isinstance(value, int)}

    def counters(self) -> dict[str, Any]:
        return xla_counters()

    def begin_measurement(self) -> None:
        self._window_start = self.counters()

    def end_measurement(self) -> dict[str, Any]:
        if self._window_start is None:
            return {}
        window = diff_counters(self.counters(), self._window_start)
        self._window_start = None
        return window

    def check_measurement(self, window: Mapping[str, Any]) -> str:
        return compile_problem(window)

    def facts(self) -> dict[str, Any]:
        import torch_xla
        import torch_xla.runtime as xr

        return {
            "pjrt_device": xr.device_type(),
            "xla_devices": list(torch_xla.real_devices()),
            "torch_xla": torch_xla_version(),
            # Lightning runs predict under no_grad on XLA, not inference_mode (loops/utilities.py).
            "predict_grad_mode": "no_grad",
            # tweetbench never enables the on-disk compile cache, so compiles are cold; but a user's
            # environment may (xr.initialize_cache() works through this variable), and then say so.
            "persistent_compile_cache": bool(os.environ.get("XLA_PERSISTENT_CACHE_PATH")),
        }


class TPUBackend(_XLABackend):
    kind = "tpu"
    description = "TPU chips through XLA"
    label_format = "TPU ({hardware})"
    pjrt_device = "TPU"
    # Lightning's XLAStrategy: one replica per TPU core, spawned by torch_xla's launcher inside fit.
    strategies = ("xla",)

    @classmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        chips = tpu_chip_count()
        if chips == 0:
            return Availability(False, "none", "no TPU chip found on the PCI bus")
        problem = _torch_xla_problem()
        if problem:
            return Availability(False, f"{chips} TPU chip(s)", problem)
        return Availability(True, f"{chips} TPU chip(s)", facts={"tpu_chips": chips})

    def lightning_accelerator(self) -> Any:
        return "tpu"


class XLACPUBackend(_XLABackend):
    kind = "xla-cpu"
    description = "the XLA compiler on the host CPU (PJRT_DEVICE=CPU), not a TPU"
    label_format = "XLA on CPU (not a TPU)"
    pjrt_device = "CPU"

    @classmethod
    def strategy_problem(cls, strategy: str, count: int) -> str:
        if strategy != "xla":
            return ""
        return ("--strategy xla cannot run on xla-cpu: torch_xla has no collective operations on XLA:CPU (they "
                "hang; pytorch/xla#5005) and Lightning's XLAStrategy refuses a single device; use it on tpu:N, "
                "or --devices cpu:N --strategy ddp for data-parallel on this CPU")

    @classmethod
    def index_problem(cls, spec: DeviceSpec) -> str:
        if spec.index in (None, 0):
            return ""
        return f"{spec.name} does not exist: XLA on CPU has one device, xla-cpu:0"

    @classmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        if spec.index not in (None, 0):
            return Availability(False, "none", f"{spec.name} does not exist: XLA on CPU has one device, xla-cpu:0")
        problem = _torch_xla_problem()
        if problem:
            return Availability(False, "none", problem)
        return Availability(True, "XLA on CPU", facts={"pjrt_device": "CPU"})

    def lightning_accelerator(self) -> Any:
        return _pjrt_cpu_accelerator_class()()

    def lightning_devices(self) -> Any:
        return 1
