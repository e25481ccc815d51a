"""The open division's knobs, as a device backend offers them (``DeviceBackend.open_knobs``).

Each constructor builds one knob option with what it does in code a reader can check; the backend
passes ``problem`` where torch says the knob cannot run on it, so that the knob is recorded and
dropped with the reason instead of applied.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Sequence

from torch.optim.optimizer import _get_capturable_supported_devices
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from tweetbench.config import AdamImpl, Functionalization, Knob, StepOptions

# The options each knob sets: two knobs that set one of the same options are alternatives, never combined.
KNOB_FIELDS = {"adam": ("adam",), "compile": ("compile_backend", "compile_mode"),
               "cuda-graphs": ("compile_backend", "compile_mode"), "threads": ("threads", "cpu_affinity"),
               "loader": ("loader_workers",), "functionalization": ("xla_functionalization",)}


def adam(option: AdamImpl, problem: str = "") -> Knob:
    setting = "torch.optim.Adam(foreach=False)" if option == "for-loop" else f"torch.optim.Adam({option}=True)"
    return Knob("adam", option, setting, StepOptions(adam=option), problem)


def compiled(backend: str, mode: str | None = None, problem: str = "") -> Knob:
    setting = f"torch.compile(model, backend={backend!r}" + (f", mode={mode!r})" if mode else ")")
    return Knob("compile", backend, setting, StepOptions(compile_backend=backend, compile_mode=mode), problem)


def cuda_graphs(problem: str = "") -> Knob:
    """CUDA graphs through inductor's ``reduce-overhead`` mode (cudagraph trees replay the step's kernels)."""
    return Knob("cuda-graphs", "reduce-overhead", "torch.compile(model, backend='inductor', mode='reduce-overhead')",
                StepOptions(compile_backend="inductor", compile_mode="reduce-overhead"), problem)


def pinned_threads(threads: int, cpus: Sequence[int], problem: str = "") -> Knob:
    listed = ",".join(str(c) for c in cpus)
    setting = f"torch.set_num_threads({threads}); every thread pinned to CPUs {listed}"
    options = StepOptions(threads=threads, cpu_affinity=tuple(cpus))
    return Knob("threads", f"{threads}-pinned", setting, options, problem)


def prefetch(workers: int, pinned: bool, problem: str = "") -> Knob:
    pin = ", pin_memory=True" if pinned else ""
    return Knob("loader", "prefetch", f"DataLoader(num_workers={workers}, prefetch_factor=4{pin})",
                StepOptions(loader_workers=workers), problem)


def functionalization(option: Functionalization, problem: str = "") -> Knob:
    """torch_xla's functionalization pass on or off. torch_xla reads the variable once, when it loads, so this
    knob's rounds run in two worker processes of their own (``scenarios/knob_process.py``)."""
    value = "1" if option == "off" else "0"
    setting = (f"XLA_DISABLE_FUNCTIONALIZATION={value} before torch_xla loads (its rounds against closed in two "
               "worker processes of their own, driven ABBA)")
    return Knob("functionalization", option, setting, StepOptions(xla_functionalization=option), problem)


def broken() -> Knob:
    """The test-only knob of fault ``broken-knob``: Adam that maximizes the loss (the accuracy gate must reject it)."""
    return Knob("adam", "broken", "test fault: torch.optim.Adam(foreach=True, maximize=True)",
                StepOptions(adam="foreach", broken=True))


def fused_adam_problem(device_type: str, supported: Collection[str] | None = None) -> str:
    """Why torch has no fused Adam kernel for ``device_type`` tensors, or ''; ``supported``: the device types
    that have one (by default, as this process's torch reports them)."""
    if device_type in (_get_fused_kernels_supported_devices() if supported is None else supported):
        return ""
    return f"torch's fused Adam has no kernel for {device_type} tensors"


def openxla_problem() -> str:
    """Why torch.compile's ``openxla`` backend (torch_xla's dynamo bridge) is missing here, or ''."""
    # Imported here, in the worker of an XLA device only: importing torch_xla starts its runtime client.
    try:
        import torch._dynamo
        import torch_xla  # noqa: F401  (registers the openxla backend)
    except ImportError as exc:
        return f"torch_xla cannot be imported ({exc})"
    return "" if "openxla" in torch._dynamo.list_backends() else "this torch_xla registers no openxla dynamo backend"


def foreach_capturable_problem() -> str:
    """Why foreach Adam cannot run with the closed division's capturable state on XLA tensors, or ''."""
    if "xla" in _get_capturable_supported_devices(supports_xla=False):
        return ""
    return ("torch's foreach Adam refuses capturable state on XLA tensors (capturable keeps Adam's step count on "
            "the device, as closed does)")


def cxx_compiler_problem() -> str:
    """Why inductor cannot compile for the CPU here (it needs a C++ compiler), or ''."""
    compiler = os.environ.get("CXX") or "g++"
    if shutil.which(compiler) or shutil.which("c++") or shutil.which("clang++"):
        return ""
    return "torch.compile's inductor needs a C++ compiler for the CPU, and none was found (install g++)"


def physical_cpus() -> list[int]:
    """One logical CPU of each physical core this process may run on (SMT siblings left out)."""
    allowed = sorted(os.sched_getaffinity(0))
    seen: set[str] = set()
    picked = []
    for cpu in allowed:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list") as f:
                siblings = f.read().strip()
        except OSError:
            siblings = str(cpu)
        if siblings not in seen:
            seen.add(siblings)
            picked.append(cpu)
    return picked


def pin_all_threads(cpus: Sequence[int] | set[int]) -> None:
    """Pin every thread of this process (torch's OpenMP pool included) to ``cpus``; new threads inherit it."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), set(cpus))
        except OSError:  # the thread ended meanwhile
            continue
