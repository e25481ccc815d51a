"""XLA devices: TPU chips (``tpu``) and the XLA compiler on the host CPU (``xla-cpu``).

XLA traces lazily and compiles one executable per distinct graph, so the first step of every new
shape costs a compile (seconds to minutes) and later steps replay it. The backend therefore

- synchronises by cutting the graph (``torch_xla.sync()``) and then *waiting* for the device
  (``xm.wait_device_ops()``): the cut alone returns before the work is done;
- diffs torch_xla's debug metrics (``devices/xla_metrics.py``) around each measured window, so that
  a compile inside the measured steps is caught (``check_measurement``);
- keeps compiled graphs on disk between runs (``devices/xla_cache.py``).

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
import re
import sys
from collections.abc import Mapping
from typing import Any

import torch

from tweetbench.config import Knob, StepOptions
from tweetbench.devices import knobs
from tweetbench.devices.base import Availability, DeviceBackend, DeviceSpec, diff_counters
from tweetbench.devices.tpu_guard import tpu_chip_count, tpu_pci_generations
from tweetbench.devices.xla_cache import PERSISTENT_CACHE_ENV, compile_cache_base, compile_cache_key, open_compile_cache
from tweetbench.devices.xla_metrics import compile_problem, transfer_problem, xla_counters
from tweetbench.errors import UsageError

PJRT_ENV = "PJRT_DEVICE"
# torch_xla's functionalization pass, on by default and run so by the closed division. With it on,
# aten's LSTM cell, which applies its gate activations in place to views of one gates tensor, is lowered
# to gathers whose int64 indices are built on the host: about 6 uploads per time step (97 per training
# step on tiny, 289 on v1), flagged by the transfer warning. Off (XLA_DISABLE_FUNCTIONALIZATION=1, a
# debug flag torch_xla keeps "to A/B test the impact of functionalization"), the views lower to slices:
# it is an open-division knob (scenarios/knob_process.py) and a run option (--xla-functionalization).
# A user's own setting of the variable is respected and recorded.
FUNCTIONALIZATION_ENV = "XLA_DISABLE_FUNCTIONALIZATION"
# Lightning's XLA precision plugin accepts only these (bf16-mixed / 16-mixed are GPU/CPU AMP modes).
XLA_PRECISIONS = ("32-true", "16-true", "bf16-true")
# torch_xla's matmul precision per workload precision: "highest" is fp32, "default" rounds the fp32
# inputs to bf16 in one pass (torch_xla's own default, and a TPU's native mode).
XLA_MAT_MUL = {"32-true": "highest", "32-xla-default": "default"}
# What each matmul precision computes. On XLA:CPU "highest" is IEEE fp32; a TPU's MXU multiplies bf16
# only, so there "highest" is six bf16 passes, about 22 bits (torch_xla's backends/__init__.py).
XLA_CPU_MATH_MODES = {"highest": "fp32 IEEE (XLA matmul precision highest)",
                      "high": "fp32 via three bf16 matmul passes (XLA matmul precision high)",
                      "default": "fp32 inputs rounded to bf16 in the matmul (XLA matmul precision default)"}
TPU_MATH_MODES = {"highest": "fp32 (six bf16 passes, ≈22 bits)",
                  "high": "fp32 (three bf16 passes, ≈14 bits)",
                  "default": "fp32 inputs rounded to bf16 (one bf16 pass)"}
# torch_xla's device kind (libtpu's name) -> the generation's public name.
TPU_DEVICE_KINDS = {"tpu v2": "v2", "tpu v3": "v3", "tpu v4": "v4", "tpu v4 lite": "v4i", "tpu v5": "v5p",
                    "tpu v5p": "v5p", "tpu v5 lite": "v5e", "tpu v5e": "v5e", "tpu v6 lite": "v6e",
                    "tpu v6e": "v6e", "tpu7x": "TPU7x", "tpu 7x": "TPU7x"}


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
        self._cache_files_at_start: int | None = None
        self._cache_base = compile_cache_base()
        self._cache_key: str | None = None

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
        # The persistent cache opens in configure_precision, in a folder keyed by the precision; until
        # then torch_xla must not open the user's folder itself.
        self._cache_base = compile_cache_base()
        os.environ.pop(PERSISTENT_CACHE_ENV, None)
        import torch_xla  # noqa: F401  (starts the PJRT client for this device type)

    def _open_compile_cache(self, mat_mul: str) -> None:
        """Compiled graphs persist between runs, in a folder of their own per configuration (devices/xla_cache.py)."""
        flags = os.environ.get("XLA_FLAGS", "")
        key = compile_cache_key(torch_xla_version(), mat_mul, functionalization_state(), flags)
        files = open_compile_cache(self._cache_base, key)
        if files is not None:
            self._cache_key, self._cache_files_at_start = key, files

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

    def step_boundary(self) -> None:
        import torch_xla

        torch_xla.sync()  # dispatches the step's graph; no wait_device_ops(), so the host runs ahead

    @property
    def part_sync(self) -> None:
        # A cut between forward, backward and optimizer would split the step's one graph into
        # three new ones, each compiled anew: the profiled passes then reuse the timed pass's graph.
        return None

    def supports_precision(self, precision: str) -> tuple[bool, str]:
        if precision in XLA_MAT_MUL:
            return True, ""
        return False, (f"unsupported on this device: Lightning's XLA plugin runs {', '.join(XLA_PRECISIONS)}, "
                       f"of which tweetbench measures 32-true (and 32-xla-default), not {precision}")

    math_modes: Mapping[str, str] = XLA_CPU_MATH_MODES

    def configure_precision(self, precision: str) -> dict[str, Any]:
        from torch_xla.backends import get_mat_mul_precision, set_mat_mul_precision

        set_mat_mul_precision(XLA_MAT_MUL[precision])  # type: ignore[arg-type]
        actual = str(get_mat_mul_precision())
        self._open_compile_cache(actual)
        return {"math_mode": self.math_modes.get(actual, actual), "xla_mat_mul_precision": actual}

    def process_env(self, options: StepOptions) -> dict[str, str]:
        if options.xla_functionalization is None:
            return {}
        return {FUNCTIONALIZATION_ENV: "1" if options.xla_functionalization == "off" else "0"}

    def optimizer_options(self, precision: str) -> dict[str, Any]:
        # Adam's step count stays on the device: no new host scalars to upload (and trace) every step.
        return {"capturable": True}

    def open_knobs(self, precision: str) -> list[Knob]:
        return [
            knobs.adam("fused", knobs.fused_adam_problem("xla")),
            knobs.adam("foreach", knobs.foreach_capturable_problem()),
            # torch_xla's dynamo bridge: the step's graph is traced once and replayed, not traced every step.
            knobs.compiled("openxla", None, knobs.openxla_problem()),
            knobs.cuda_graphs("CUDA graphs need a CUDA GPU"),
            knobs.pinned_threads(1, [0], "a CPU eager knob: XLA runs the step as its own compiled executable"),
            knobs.prefetch(1, pinned=False, problem="already in the closed division: torch_xla's MpDeviceLoader "
                                                    "prefetches the batches to the device"),
            # The other setting of the pass than this process runs (off, unless the user turned it off).
            knobs.functionalization("off" if functionalization_state() == "on" else "on"),
        ]

    def memory(self) -> dict[str, Any]:
        import torch_xla.core.xla_model as xm

        try:
            info = xm.get_memory_info(self.torch_device)
        except RuntimeError:
            return {}  # PJRT on the CPU keeps no allocator statistics
        # torch_xla's keys (bytes_used, bytes_limit, peak_bytes_used) -> xla_used_bytes, xla_limit_bytes, ...
        figures: dict[str, Any] = {f"xla_{key.replace('bytes_', '').replace('_bytes', '')}_bytes": int(value)
                                   for key, value in info.items() if isinstance(value, int)}
        if figures:
            # torch_xla has no peak reset: a phase's peak is the process's peak up to its end.
            figures["xla_peak_scope"] = "since the process started (torch_xla cannot reset its peak)"
        return figures

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

    def measurement_warning(self, window: Mapping[str, Any], steps: int, allowed_transfers: int) -> str:
        return transfer_problem(window, steps, allowed_transfers, functionalization_state())

    def device_loader(self, loader: Any) -> Any:
        # Single-device XLA too: prefetch batches to the device in the background (Lightning's
        # XLAStrategy does the same across cores), so that no step waits for its own upload.
        from torch_xla.distributed.parallel_loader import MpDeviceLoader

        wrapped = MpDeviceLoader(loader, self.torch_device)
        # What Lightning reads of a DataLoader (as its XLAStrategy.process_dataloader sets).
        wrapped.dataset = loader.dataset
        wrapped.batch_sampler = getattr(loader, "batch_sampler", None)
        return wrapped

    def facts(self) -> dict[str, Any]:
        import torch_xla
        import torch_xla.runtime as xr

        return {
            "pjrt_device": xr.device_type(),
            "xla_devices": list(torch_xla.real_devices()),
            "torch_xla": torch_xla_version(),
            # Lightning runs predict under no_grad on XLA, not inference_mode (loops/utilities.py).
            "predict_grad_mode": "no_grad",
            "functionalization": functionalization_state(),
            # The on-disk compile cache (configure_precision): its folder, keyed by torch_xla's version, the
            # matmul precision, functionalization and XLA_FLAGS, and whether this run found it empty (cold).
            "persistent_compile_cache": os.environ.get(PERSISTENT_CACHE_ENV) if self._cache_key else None,
            "compile_cache_key": self._cache_key,
            "compile_cache_state": None if self._cache_files_at_start is None
            else ("cold" if self._cache_files_at_start == 0 else "warm"),
        }


class TPUBackend(_XLABackend):
    kind = "tpu"
    description = "TPU chips through XLA"
    label_format = "TPU ({hardware})"
    pjrt_device = "TPU"
    # Lightning's XLAStrategy: one replica per TPU core, spawned by torch_xla's launcher inside fit.
    strategies = ("xla",)

    math_modes = TPU_MATH_MODES

    @classmethod
    def probe(cls, spec: DeviceSpec) -> Availability:
        chips = tpu_chip_count()
        if chips == 0:
            return Availability(False, "none", "no TPU chip found on the PCI bus")
        hardware = tpu_hardware(chips, tpu_pci_generations())
        if (spec.index or 0) >= chips:
            return Availability(False, hardware, f"{spec.name} does not exist: this machine has "
                                f"{chips} TPU chip(s), tpu:0..tpu:{chips - 1}")
        problem = _torch_xla_problem()
        if problem:
            return Availability(False, hardware, problem)
        return Availability(True, hardware, facts={"tpu_chips": chips})

    def facts(self) -> dict[str, Any]:
        import torch_xla.core.xla_model as xm

        # On a TPU machine torch_xla's device kind comes from libtpu, not the metadata server.
        kind = str(xm.xla_device_kind(self.torch_device))
        return {**super().facts(), "tpu_device_kind": kind, "tpu_generation": tpu_generation(kind, [])}

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


def tpu_generation(device_kind: str | None, pci_generations: list[str]) -> str | None:
    """The TPU generation (v4, v5e, v5p, v6e, TPU7x): from torch_xla's device kind if it names one, else the
    PCI ids' (when all chips agree), else None."""
    if device_kind:
        known = TPU_DEVICE_KINDS.get(" ".join(device_kind.lower().split()))
        if known:
            return known
    distinct = set(pci_generations)
    return distinct.pop() if len(distinct) == 1 else None


def tpu_hardware(chips: int, pci_generations: list[str], device_kind: str | None = None) -> str:
    """The hardware a TPU label names: ``v5e, 4 chips`` (``4 chips, generation unknown`` when unknown)."""
    generation = tpu_generation(device_kind, pci_generations)
    count = f"{chips} chip{'' if chips == 1 else 's'}"
    if generation is None:
        mixed = ", ".join(sorted(set(pci_generations)))
        return f"{count}, generation {'mixed: ' + mixed if mixed else 'unknown'}"
    return f"{generation}, {count}"


def functionalization_state() -> str:
    """torch_xla's functionalization pass as this process runs it: "on" (torch_xla's default) or "off"."""
    # As torch_xla's GetEnvBool reads it: "true", "false", else C's atoi(value) != 0.
    value = os.environ.get(FUNCTIONALIZATION_ENV)
    if value is None or value == "false":
        return "on"
    digits = re.match(r"\s*[+-]?\d+", value)
    return "off" if value == "true" or (digits is not None and int(digits.group()) != 0) else "on"

