"""The open division's knobs as each device offers them: each only where torch says it runs, with the reason."""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils._foreach_utils import _get_foreach_kernels_supported_devices, _get_fused_kernels_supported_devices

from tweetbench.config import StepOptions
from tweetbench.devices import DeviceSpec, create_backend, knobs
from tweetbench.devices.cuda import CudaKnobFacts, cuda_knobs
from tweetbench.devices.xla import XLACPUBackend


def by_name(catalog):
    return {knob.name: knob for knob in catalog}


def gpu_facts(*, cuda: bool, triton: bool, fused_devices=("cuda", "cpu"), foreach_devices=("cuda",)):
    """What torch reports on a machine with (or without) a GPU and Triton."""
    return CudaKnobFacts(cuda, triton, frozenset(fused_devices), frozenset(foreach_devices))


def test_every_gpu_knob_is_refused_with_a_reason_where_torch_sees_no_gpu():
    catalog = by_name(cuda_knobs("32-true", gpu_facts(cuda=False, triton=False)))
    for name in ("adam=fused", "compile=inductor", "cuda-graphs=reduce-overhead"):
        assert "no CUDA GPU" in catalog[name].problem
    assert catalog["threads=1-pinned"].problem.startswith("a CPU knob")


def test_gpu_knobs_are_offered_where_torch_says_they_run():
    catalog = by_name(cuda_knobs("32-true", gpu_facts(cuda=True, triton=True)))
    assert catalog["adam=fused"].problem == ""
    assert catalog["compile=inductor"].problem == ""
    assert catalog["compile=inductor"].options.compile_mode == "max-autotune-no-cudagraphs"
    graphs = catalog["cuda-graphs=reduce-overhead"]
    assert graphs.problem == "" and graphs.options.compile_mode == "reduce-overhead"
    assert catalog["loader=prefetch"].problem == "" and "pin_memory=True" in catalog["loader=prefetch"].setting
    # torch already picks foreach Adam for CUDA tensors: switching it on would change nothing.
    assert catalog["adam=foreach"].problem.startswith("already in the closed division")


def test_gpu_compile_needs_triton_and_fused_adam_needs_its_kernel():
    facts = gpu_facts(cuda=True, triton=False, fused_devices=("cpu",), foreach_devices=())
    catalog = by_name(cuda_knobs("32-true", facts))
    assert "Triton" in catalog["compile=inductor"].problem
    assert "Triton" in catalog["cuda-graphs=reduce-overhead"].problem
    assert catalog["adam=fused"].problem == "torch's fused Adam has no kernel for cuda tensors"
    assert catalog["adam=foreach"].problem == "torch has no foreach kernels for CUDA here"


def test_fused_adam_is_already_closed_under_16_mixed():
    catalog = by_name(cuda_knobs("16-mixed", gpu_facts(cuda=True, triton=True)))
    assert catalog["adam=fused"].problem.startswith("already in the closed division")


def test_the_gpu_knob_facts_are_what_this_torch_reports():
    facts = CudaKnobFacts.read()
    assert facts.cuda_available == torch.cuda.is_available()
    assert facts.fused_adam_devices == set(_get_fused_kernels_supported_devices())
    assert facts.foreach_devices == set(_get_foreach_kernels_supported_devices())
    # The GPU backend offers what those facts decide, on this machine as on any other.
    offered = create_backend(DeviceSpec("gpu")).open_knobs("32-true")
    assert offered == cuda_knobs("32-true", facts)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_a_gpu_this_torch_refuses_every_gpu_knob_with_a_reason():
    facts = CudaKnobFacts.read()
    assert not facts.cuda_available and not facts.has_triton
    catalog = by_name(create_backend(DeviceSpec("gpu")).open_knobs("32-true"))
    for name in ("adam=fused", "compile=inductor", "cuda-graphs=reduce-overhead"):
        assert "no CUDA GPU" in catalog[name].problem


def test_cpu_knobs_follow_torch_and_the_host():
    catalog = by_name(create_backend(DeviceSpec("cpu")).open_knobs("32-true"))
    assert catalog["adam=fused"].problem == knobs.fused_adam_problem("cpu")
    assert catalog["adam=foreach"].problem == ""
    assert catalog["compile=inductor"].problem == knobs.cxx_compiler_problem()
    assert catalog["cuda-graphs=reduce-overhead"].problem == "CUDA graphs need a CUDA GPU"
    threads = catalog[f"threads={len(knobs.physical_cpus())}-pinned"]
    assert threads.options.cpu_affinity == tuple(knobs.physical_cpus())
    assert catalog["loader=prefetch"].options.loader_workers == 1


def test_inductor_on_the_cpu_needs_a_cxx_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no compiler on it
    monkeypatch.delenv("CXX", raising=False)
    assert "C++ compiler" in knobs.cxx_compiler_problem()


def test_xla_offers_foreach_and_openxla_not_fused_or_cuda_graphs():
    catalog = by_name(XLACPUBackend(DeviceSpec("xla-cpu")).open_knobs("32-true"))
    assert catalog["adam=fused"].problem == "torch's fused Adam has no kernel for xla tensors"
    # torch 2.9 runs foreach Adam with capturable state only on cuda, xpu, hpu and privateuse1 tensors.
    assert catalog["adam=foreach"].problem.startswith("torch's foreach Adam refuses capturable state")
    assert catalog["compile=openxla"].options.compile_backend == "openxla"
    assert catalog["cuda-graphs=reduce-overhead"].problem
    assert catalog["loader=prefetch"].problem.startswith("already in the closed division")


def test_cpu_process_settings_apply_threads_and_affinity_then_restore_them():
    backend = create_backend(DeviceSpec("cpu"))
    threads, cpus = torch.get_num_threads(), os.sched_getaffinity(0)
    one = min(cpus)
    with backend.process_settings(StepOptions(threads=1, cpu_affinity=(one,))):
        assert torch.get_num_threads() == 1
        assert os.sched_getaffinity(0) == {one}
    assert torch.get_num_threads() == threads
    assert os.sched_getaffinity(0) == cpus


def test_closed_options_leave_the_process_as_it_is():
    backend = create_backend(DeviceSpec("cpu"))
    threads = torch.get_num_threads()
    with backend.process_settings(StepOptions()):
        assert torch.get_num_threads() == threads


@pytest.mark.parametrize("knob", [knobs.adam("fused"), knobs.compiled("inductor", "default"), knobs.cuda_graphs(),
                                  knobs.prefetch(2, pinned=True), knobs.pinned_threads(2, [0, 1])])
def test_each_knob_sets_only_its_own_options(knob):
    changed = {name for name, value in knob.options.to_dict().items() if value != StepOptions().to_dict()[name]}
    assert changed and changed <= set(knobs.KNOB_FIELDS[knob.knob])
