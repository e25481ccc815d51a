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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils._foreach_utils import _get_foreach_kernels_supported_devices, _get_fused_kernels_supported_devices
from torch.utils._triton import has_triton

from tweetbench.config import Knob
from tweetbench.devices import knobs
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


# torch's fp32 math switches: "ieee" is true fp32, "tf32" rounds the matmul inputs to 10 bits of mantissa.
FP32_MATH = {"32-true": "ieee", "32-tf32": "tf32", "16-mixed": "ieee"}
BF16_MIXED_REFUSAL = ("bf16-mixed on CUDA would run the LSTM in fp16 (autocast's cuDNN RNN path casts to half "
                      "whatever dtype it is asked for) and with no gradient scaler: use 16-mixed (fp16 with a "
                      "scaler) or 32-true")


def set_fp32_math(mode: str) -> None:
    """Set the fp32 math of matmuls and of cuDNN (the LSTM's kernels) to ``mode``: ``ieee`` or ``tf32``.

    The legacy switches (``cudnn.allow_tf32``, ``cuda.matmul.allow_tf32``) are set first, to match: torch
    2.9+ raises "mix of legacy and new APIs" on any later read of a legacy switch that disagrees with the
    per-operator ``fp32_precision`` ones (``cudnn.flags()`` and inductor read it). Then matmuls go through
    ``set_float32_matmul_precision``, which keeps every backend's switch in step (Lightning reads it), and
    cuDNN's RNN and convolution switches are set on their own (torch >= 2.9).
    """
    tf32 = mode == "tf32"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.9+ warns that the legacy API will go
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        for part in (getattr(torch.backends.cudnn, name, None) for name in ("rnn", "conv")):
            if part is not None and hasattr(part, "fp32_precision"):
                part.fp32_precision = mode


def math_mode(settings: dict[str, Any]) -> str:
    """What the fp32 matmuls and the LSTM really compute, from the switches as read back."""
    values = {str(value).lower() for key, value in settings.items()
              if key.endswith(("fp32_precision", "allow_tf32"))} - {"none"}
    if values <= {"ieee", "false"}:
        return "fp32 IEEE"
    if values <= {"tf32", "true"}:
        return "TF32"
    return "mixed fp32/TF32: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))


# Every torch.backends switch that says whether fp32 may run as TF32: (record key, owner path, attribute).
PRECISION_FLAGS = (
    ("cuda_matmul_fp32_precision", "cuda.matmul", "fp32_precision"),
    ("cudnn_fp32_precision", "cudnn", "fp32_precision"),
    ("cudnn_rnn_fp32_precision", "cudnn.rnn", "fp32_precision"),
    ("cudnn_conv_fp32_precision", "cudnn.conv", "fp32_precision"),
    ("cuda_matmul_allow_tf32", "cuda.matmul", "allow_tf32"),
    ("cudnn_allow_tf32", "cudnn", "allow_tf32"),
)


def _owner(path: str) -> Any:
    owner: Any = torch.backends
    for part in path.split("."):
        owner = getattr(owner, part, None)
    return owner


def read_precision_flags() -> dict[str, Any]:
    """Every TF32 switch this torch has, read back; a read that torch refuses is kept as its one-line error."""
    flags: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.9 warns about whichever of its two APIs is read
        for key, path, attribute in PRECISION_FLAGS:
            owner = _owner(path)
            try:
                value = getattr(owner, attribute, None) if owner is not None else None
            except RuntimeError as error:  # "mix of legacy and new APIs": the switches disagree
                value = "unreadable: " + str(error).splitlines()[0][:160]
            if value is not None:
                flags[key] = value if isinstance(value, bool) else str(value)
        try:
            flags["float32_matmul_precision"] = torch.get_float32_matmul_precision()
        except RuntimeError:  # torch 2.9 refuses to summarise switches set to different values
            flags["float32_matmul_precision"] = "mixed"
    return flags


def fp32_math_settings() -> dict[str, Any]:
    """How torch lets fp32 matmuls and cuDNN (the LSTM) use TF32 tensor cores, as set in this process.

    On torch >= 2.9 the per-operator ``fp32_precision`` switches; before it, the legacy ``allow_tf32`` ones.
    """
    flags = read_precision_flags()
    new_api = any(key.endswith("fp32_precision") and key != "float32_matmul_precision" for key in flags)
    return {key: value for key, value in flags.items()
            if not (new_api and key.endswith("allow_tf32") and isinstance(value, bool))}


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

    def set_sync_debug(self, on: bool) -> None:
        """torch's sync-debug mode: with it on, every call that makes the host wait for the GPU warns
        ("called a synchronizing CUDA operation"); ``harness/syncdebug.py`` counts and names them."""
        torch.cuda.set_sync_debug_mode("warn" if on else "default")

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
        if precision == "bf16-mixed":
            return False, BF16_MIXED_REFUSAL
        if precision not in FP32_MATH:
            return False, f"unsupported on this device: {precision} is an XLA math mode"
        return True, ""

    def configure_precision(self, precision: str) -> dict[str, Any]:
        set_fp32_math(FP32_MATH[precision])
        settings = fp32_math_settings()
        mode = math_mode(settings)
        if precision == "16-mixed":
            mode = f"fp16 autocast (LSTM and matmuls), fp32 weights; other fp32 ops {mode}"
        return {"math_mode": mode, "fp32_math": settings}

    def optimizer_options(self, precision: str) -> dict[str, Any]:
        # Under 16-mixed the gradient scaler checks for inf on the host each step unless Adam is fused.
        return {"fused": True} if precision == "16-mixed" else {}

    def open_knobs(self, precision: str) -> list[Knob]:
        return cuda_knobs(precision, CudaKnobFacts.read())


@dataclass(frozen=True)
class CudaKnobFacts:
    """What torch reports that decides which GPU knobs run here (``cuda_knobs``)."""

    cuda_available: bool
    # torch's has_triton(): Triton is installed and sees a GPU it supports (compute capability 7.0+).
    has_triton: bool
    # The device types torch has fused Adam kernels and foreach kernels for.
    fused_adam_devices: frozenset[str]
    foreach_devices: frozenset[str]

    @classmethod
    def read(cls) -> CudaKnobFacts:
        """The facts as this process's torch reports them."""
        available = torch.cuda.is_available()
        # has_triton() imports dynamo: only asked where a GPU could use it.
        return cls(available, available and has_triton(), frozenset(_get_fused_kernels_supported_devices()),
                   frozenset(_get_foreach_kernels_supported_devices()))


def triton_problem(facts: CudaKnobFacts) -> str:
    """Why inductor cannot generate GPU kernels here (Triton missing, or a GPU older than it supports), or ''."""
    if not facts.cuda_available:
        return "no CUDA GPU is visible to torch"
    if facts.has_triton:
        return ""
    return "torch.compile's inductor needs Triton and a GPU it supports (compute capability 7.0+)"


def cuda_knobs(precision: str, facts: CudaKnobFacts) -> list[Knob]:
    """The GPU's open-division knobs, each offered only where ``facts`` say it runs (see ``triton_problem``)."""
    fused = (knobs.fused_adam_problem("cuda", facts.fused_adam_devices)
             or ("" if facts.cuda_available else "no CUDA GPU is visible to torch"))
    if precision == "16-mixed":
        fused = "already in the closed division: 16-mixed uses fused Adam (no host sync for the gradient scaler)"
    # With foreach unset, torch already picks its foreach kernels for CUDA tensors: nothing to switch on.
    foreach = ("already in the closed division: torch's default Adam for CUDA tensors is foreach"
               if "cuda" in facts.foreach_devices else "torch has no foreach kernels for CUDA here")
    triton = triton_problem(facts)
    return [
        knobs.adam("fused", fused),
        knobs.adam("foreach", foreach),
        knobs.compiled("inductor", "max-autotune-no-cudagraphs", triton),
        knobs.cuda_graphs(triton),
        knobs.pinned_threads(1, [0], "a CPU knob: the GPU's step does not run on torch's CPU threads"),
        # Host batches are already pinned in the closed division; this adds prefetching workers.
        knobs.prefetch(2, pinned=True),
    ]
