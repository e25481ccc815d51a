"""The CUDA backend. Without a GPU only the parts that need none run; the rest skip, saying why."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tweetbench.config import PRESETS, WORKLOADS, DeviceJob
from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.devices.cuda import (
    CUDABackend,
    CudaEventClock,
    driver_version_from_proc,
    fp32_math_settings,
    read_precision_flags,
    set_fp32_math,
)
from tweetbench.harness.peak import PeakConfig, measure_peak

_gpu = CUDABackend.probe(DeviceSpec("gpu"))
requires_gpu = pytest.mark.skipif(not _gpu.available, reason=f"needs an NVIDIA GPU: {_gpu.reason}")


def test_probe_gives_a_reason_or_a_card():
    if _gpu.available:
        assert _gpu.hardware != "none" and _gpu.facts["compute_capability"]
    else:
        assert _gpu.hardware == "none" and _gpu.reason
    missing = CUDABackend.probe(DeviceSpec("gpu", 64))
    assert not missing.available and missing.reason


def test_listing_names_each_card_when_there_are_several():
    specs = CUDABackend.list_specs()
    count = torch.cuda.device_count() if _gpu.available else 0
    assert [s.name for s in specs] == ([f"gpu:{i}" for i in range(count)] if count > 1 else ["gpu"])


def test_driver_version_from_procfs(tmp_path: Path):
    proc = tmp_path / "version"
    proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
                    "GCC version:  gcc version 12.3.0\n")
    assert driver_version_from_proc(proc) == "550.54.15"
    proc.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build\n")
    assert driver_version_from_proc(proc) == "570.86.15"
    assert driver_version_from_proc(tmp_path / "absent") is None


def test_fp32_math_settings_are_recorded():
    settings = fp32_math_settings()
    assert settings["float32_matmul_precision"] in ("highest", "high", "medium")
    assert len(settings) >= 2


@pytest.mark.gpu
@requires_gpu
def test_facts_and_memory_under_their_own_names():
    backend = create_backend(DeviceSpec("gpu"))
    backend.setup()
    facts = backend.facts()
    for key in ("hardware", "compute_capability", "driver", "cuda", "cudnn"):
        assert facts.get(key), (key, facts)
    backend.reset_peak_memory()
    x = torch.empty(64 * 2**20, dtype=torch.uint8, device=backend.torch_device)
    backend.begin_measurement()
    backend.synchronize()
    window = backend.end_measurement()
    memory = backend.memory()
    assert memory["torch_peak_allocated_bytes"] >= x.numel()
    assert memory["torch_peak_reserved_bytes"] >= memory["torch_peak_allocated_bytes"]
    assert memory.get("nvml_used_bytes", 0) >= memory["torch_peak_reserved_bytes"], window


@pytest.mark.gpu
@requires_gpu
def test_event_timer_agrees_with_the_synced_wall_clock():
    backend = create_backend(DeviceSpec("gpu"))
    backend.setup()
    timer = backend.clock()
    assert isinstance(timer, CudaEventClock)
    a = torch.randn(2048, 2048, device=backend.torch_device)
    wall = []
    marks = [timer.mark()]
    backend.synchronize()
    last = time.perf_counter()
    for _ in range(20):
        for _ in range(10):
            a = (a @ a).clamp_(-1, 1)
        marks.append(timer.mark())
        backend.synchronize()
        now = time.perf_counter()
        wall.append(now - last)
        last = now
    device = timer.intervals(marks)
    assert len(device) == len(wall)
    assert abs(sum(device) / sum(wall) - 1) < 0.05


@pytest.mark.gpu
@requires_gpu
def test_matmul_peak_in_fp32_and_bf16():
    backend = create_backend(DeviceSpec("gpu"))
    backend.setup()
    peaks = measure_peak(backend.torch_device, backend.synchronize,
                         supports=lambda d: backend.supports_precision("bf16-mixed") if d == "bf16" else (True, ""),
                         config=PeakConfig.for_budget(0.5))
    assert peaks["fp32"].flops_per_s and peaks["fp32"].flops_per_s > 1e11
    if torch.cuda.is_bf16_supported():
        assert peaks["bf16"].flops_per_s and peaks["bf16"].flops_per_s > 1e11


@pytest.mark.gpu
@pytest.mark.slow
@requires_gpu
def test_the_whole_scenario_on_the_gpu(tmp_path: Path):
    from tweetbench.launch.runner import run_device

    job = DeviceJob("gpu", WORKLOADS["tiny"], PRESETS["smoke"], profile=False)
    result = run_device(job, run_id="gpu-test", run_dir=tmp_path, command=["pytest"]).to_dict()
    assert result["status"] == "ok", result["reason"]
    metrics = result["metrics"]
    timer = metrics["training"]["device_timer"]
    assert timer["source"] == "cuda-events" and len(timer["raw_step_s"]) == metrics["training"]["measured_steps"]
    assert abs(timer["total_rel_diff"]) < 0.25  # a smoke run is short; the quick preset is the real check
    assert set(metrics["energy"]) == {"training", "inference_batch1", "inference_offline"}
    assert metrics["efficiency"]["training"]["pct_of_peak"] > 0
    assert {"torch_peak_allocated_bytes", "torch_peak_reserved_bytes"} <= set(metrics["memory"]["device"])
    assert "nvml" in metrics["device_counters"]
    assert result["device"]["facts"]["compute_capability"]


# --------------------------------------------------------------------------- TF32 switches (no GPU needed)

_NEW_API = hasattr(getattr(torch.backends.cudnn, "rnn", None), "fp32_precision")  # torch >= 2.9


@pytest.fixture
def restore_precision_flags() -> Iterator[None]:
    """Every switch back as torch starts (legacy ones first), so no later test runs in another math mode."""
    matmul = torch.get_float32_matmul_precision()
    parts = {name: getattr(torch.backends.cudnn, name).fp32_precision for name in ("rnn", "conv")} if _NEW_API else {}
    legacy = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = legacy
        torch.set_float32_matmul_precision(matmul)
        for name, value in parts.items():
            getattr(torch.backends.cudnn, name).fp32_precision = value


def _read_every_flag() -> dict[str, object]:
    """Each torch.backends precision switch read directly (a mix of APIs raises here), and cudnn.flags()."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                "float32_matmul_precision": torch.get_float32_matmul_precision()}
        if _NEW_API:
            for name in ("cuda.matmul", "cudnn", "cudnn.rnn", "cudnn.conv", "mkldnn"):
                owner = torch.backends
                for part in name.split("."):
                    owner = getattr(owner, part)
                read[f"{name}.fp32_precision"] = owner.fp32_precision
            read["fp32_precision"] = torch.backends.fp32_precision
        with torch.backends.cudnn.flags(enabled=True):  # reads allow_tf32 to restore it
            pass
    return read


@pytest.mark.parametrize("order", [("32-true", "32-tf32", "16-mixed", "32-true"), ("32-tf32", "32-true", "32-tf32")])
def test_every_precision_variant_leaves_every_flag_readable(order: tuple[str, ...], restore_precision_flags: None):
    backend = CUDABackend(DeviceSpec("gpu"))  # configure_precision sets switches only: no GPU needed
    for precision in order:
        math = backend.configure_precision(precision)
        read = _read_every_flag()
        tf32 = precision == "32-tf32"
        assert read["cudnn.allow_tf32"] is tf32 and read["cuda.matmul.allow_tf32"] is tf32, (precision, read)
        assert read["float32_matmul_precision"] == ("high" if tf32 else "highest")
        if _NEW_API:
            assert read["cudnn.rnn.fp32_precision"] == read["cudnn.conv.fp32_precision"] == ("tf32" if tf32 else "ieee")
        assert not any(str(v).startswith("unreadable") for v in read_precision_flags().values())
        assert math["math_mode"].endswith("TF32" if tf32 else "fp32 IEEE"), math


@pytest.mark.skipif(not _NEW_API, reason=f"torch {torch.__version__} has no per-operator fp32_precision switches")
def test_new_switches_alone_leave_the_legacy_one_unreadable_and_the_record_says_so(restore_precision_flags: None):
    # The order this backend used to set them in: cuDNN's per-operator switches only, the legacy one left True.
    set_fp32_math("tf32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cudnn.rnn.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        with pytest.raises(RuntimeError, match="mix of the legacy and new APIs"):
            _ = torch.backends.cudnn.allow_tf32
    assert str(read_precision_flags()["cudnn_allow_tf32"]).startswith("unreadable: ")
    set_fp32_math("ieee")  # setting the legacy switch first puts it right
    assert _read_every_flag()["cudnn.allow_tf32"] is False


# --------------------------------------------------------------------------- sync-debug and numerics on the GPU


@requires_gpu
def test_an_item_inside_the_sync_debug_window_is_counted_and_named():
    from tweetbench.harness.syncdebug import SyncCounter

    backend = create_backend(DeviceSpec("gpu"))
    x = torch.ones(4, device="cuda")
    with SyncCounter() as counter:
        backend.set_sync_debug(True)
        try:
            x.sum().item()
        finally:
            backend.set_sync_debug(False)
        x.sum().item()  # with the mode off: not counted
    assert counter.total == 1 and next(iter(counter.sites)).endswith(
        "in test_an_item_inside_the_sync_debug_window_is_counted_and_named")


@requires_gpu
def test_the_sync_debug_pass_counts_and_names_every_sync_in_the_closed_step():
    # Zero is the target, and the GPU check reports the verdict; this test holds the pass to its bookkeeping.
    from tweetbench.harness.syncdebug import SyncDebugConfig, sync_debug_pass

    backend = create_backend(DeviceSpec("gpu"))
    backend.setup()
    result = sync_debug_pass(backend, WORKLOADS["tiny"], "32-true", SyncDebugConfig(warmup_steps=3, measured_steps=5))
    assert result["applicable"] and result["steps_run"] == 8
    assert result["sync_calls"] == sum(site["count"] for site in result["sites"])
    assert all(site["site"] and "synchroniz" in site["message"] for site in result["sites"])
    assert result["verdict"].startswith("pass" if result["sync_calls"] == 0 else "fail")


@requires_gpu
def test_the_lstm_is_ieee_under_32_true_and_visibly_tf32_under_32_tf32(restore_precision_flags: None):
    from tweetbench.harness.numerics import NumericsConfig, numerics_probe

    result = numerics_probe(create_backend(DeviceSpec("gpu")), NumericsConfig.from_workload(WORKLOADS["v1"]))
    assert result["passed"], result["verdicts"]
