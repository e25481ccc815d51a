"""Precision means what it says: the math-mode switches each backend sets per variant, and the label.

The CUDA and TPU paths cannot run here; their switches are plain settings that torch and torch_xla
accept without the hardware, so these tests set them for real and read them back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
import torch

from tweetbench.config import lightning_precision
from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.devices.cuda import BF16_MIXED_REFUSAL, fp32_math_settings, math_mode, set_fp32_math
from tweetbench.devices.xla import _torch_xla_problem


@pytest.fixture
def restore_fp32_math() -> Iterator[None]:
    """Put every switch back as it was, so that no later test computes in another math mode."""
    matmul = torch.get_float32_matmul_precision()
    cudnn = {name: getattr(torch.backends.cudnn, name).fp32_precision for name in ("rnn", "conv")
             if hasattr(getattr(torch.backends.cudnn, name, None), "fp32_precision")}
    yield
    torch.set_float32_matmul_precision(matmul)
    for name, value in cudnn.items():
        getattr(torch.backends.cudnn, name).fp32_precision = value
    assert fp32_math_settings()["float32_matmul_precision"] == matmul


def test_32_true_is_ieee_on_cuda(restore_fp32_math: None) -> None:
    set_fp32_math("tf32")
    math = create_backend(DeviceSpec("gpu")).configure_precision("32-true")
    assert math["math_mode"] == "fp32 IEEE"
    assert all(str(v).lower() in ("ieee", "false", "none") for k, v in math["fp32_math"].items()
               if k.endswith(("fp32_precision", "allow_tf32")))
    assert torch.get_float32_matmul_precision() == "highest"  # Lightning reads it: it must stay readable


def test_32_tf32_is_its_own_variant_and_says_so(restore_fp32_math: None) -> None:
    math = create_backend(DeviceSpec("gpu")).configure_precision("32-tf32")
    assert math["math_mode"] == "TF32"
    if hasattr(torch.backends.cudnn, "rnn"):  # torch >= 2.9: the LSTM's own switch
        assert torch.backends.cudnn.rnn.fp32_precision == "tf32"
    assert torch.get_float32_matmul_precision() == "high"
    assert lightning_precision("32-tf32") == "32-true"


def test_fp16_mixed_on_cuda_says_what_runs_and_fuses_adam(restore_fp32_math: None) -> None:
    backend = create_backend(DeviceSpec("gpu"))
    assert backend.configure_precision("16-mixed")["math_mode"].startswith("fp16 autocast")
    assert backend.optimizer_options("16-mixed") == {"fused": True}
    assert backend.optimizer_options("32-true") == {}


def test_bf16_mixed_on_cuda_is_refused_with_the_reason() -> None:
    ok, why = create_backend(DeviceSpec("gpu")).supports_precision("bf16-mixed")
    assert not ok and why == BF16_MIXED_REFUSAL and "fp16" in why


def test_math_mode_reads_the_switches() -> None:
    assert math_mode({"cuda_matmul_fp32_precision": "ieee", "cudnn_rnn_fp32_precision": "ieee"}) == "fp32 IEEE"
    assert math_mode({"cuda_matmul_fp32_precision": "tf32", "cudnn_rnn_fp32_precision": "tf32"}) == "TF32"
    assert math_mode({"cuda_matmul_fp32_precision": "ieee", "cudnn_rnn_fp32_precision": "tf32"}).startswith("mixed")
    assert math_mode({"cuda_matmul_allow_tf32": False, "cudnn_allow_tf32": False}) == "fp32 IEEE"


def test_the_cpu_computes_fp32_as_ieee_and_refuses_the_accelerator_modes() -> None:
    cpu = create_backend(DeviceSpec("cpu"))
    assert cpu.configure_precision("32-true")["math_mode"] == "fp32 IEEE"
    assert not cpu.supports_precision("32-tf32")[0] and not cpu.supports_precision("32-xla-default")[0]


@pytest.mark.xla
@pytest.mark.skipif(bool(_torch_xla_problem()), reason=f"needs torch_xla: {_torch_xla_problem()}")
def test_xla_sets_and_records_its_matmul_precision(tmp_path) -> None:
    code = textwrap.dedent("""
        import json
        from tweetbench.devices import create_backend, parse_device
        backend = create_backend(parse_device("xla-cpu"))
        backend.setup()
        out = {p: backend.configure_precision(p) for p in ("32-xla-default", "32-true")}
        out["adam"] = backend.optimizer_options("32-true")
        print(json.dumps(out))
    """)
    env = {**os.environ, "XLA_PERSISTENT_CACHE_PATH": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["32-true"]["xla_mat_mul_precision"] == "highest" and "fp32 IEEE" in out["32-true"]["math_mode"]
    assert out["32-xla-default"]["xla_mat_mul_precision"] == "default"
    assert "bf16" in out["32-xla-default"]["math_mode"]
    assert out["adam"] == {"capturable": True}


@pytest.mark.xla
@pytest.mark.skipif(bool(_torch_xla_problem()), reason=f"needs torch_xla: {_torch_xla_problem()}")
def test_each_xla_precision_opens_a_compile_cache_folder_of_its_own(tmp_path) -> None:
    code = textwrap.dedent("""
        import json, sys
        from tweetbench.devices import create_backend, parse_device
        backend = create_backend(parse_device("xla-cpu"))
        backend.setup()
        backend.configure_precision(sys.argv[1])
        facts = backend.facts()
        print(json.dumps({k: facts[k] for k in ("persistent_compile_cache", "compile_cache_key",
                                                "compile_cache_state", "functionalization")}))
    """)
    env = {**os.environ, "XLA_PERSISTENT_CACHE_PATH": str(tmp_path / "cache")}
    env.pop("XLA_DISABLE_FUNCTIONALIZATION", None)
    out = {}
    for precision in ("32-true", "32-xla-default"):
        proc = subprocess.run([sys.executable, "-c", code, precision], capture_output=True, text=True, timeout=300,
                              env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[precision] = json.loads(proc.stdout.strip().splitlines()[-1])
    true, default = out["32-true"], out["32-xla-default"]
    assert true["persistent_compile_cache"] != default["persistent_compile_cache"]
    assert true["persistent_compile_cache"] == str(tmp_path / "cache" / true["compile_cache_key"])
    assert "-highest-functionalization-on-" in true["compile_cache_key"]
    assert "-default-functionalization-on-" in default["compile_cache_key"]
    assert true["compile_cache_state"] == default["compile_cache_state"] == "cold"
