"""The CPU backend on this machine: availability, placement, its clock, precisions, threads and energy."""

from __future__ import annotations

import time

import pytest
import torch

from tweetbench.config import StepOptions
from tweetbench.devices import DeviceSpec, create_backend, parse_device_list, probe
from tweetbench.devices.clock import DeviceClock
from tweetbench.devices.cpu import CPUBackend
from tweetbench.errors import UsageError
from tweetbench.records.environment import cpu_model


@pytest.fixture
def cpu() -> CPUBackend:
    backend = create_backend(DeviceSpec("cpu"))
    assert isinstance(backend, CPUBackend)
    return backend


def test_the_cpu_is_always_available_and_names_its_model() -> None:
    availability = probe(DeviceSpec("cpu"))
    assert availability.available and availability.reason == ""
    assert availability.hardware == cpu_model()
    assert availability.facts == {"torch_threads": torch.get_num_threads()}


def test_the_cpu_takes_no_index() -> None:
    assert CPUBackend.index_problem(DeviceSpec("cpu")) == ""
    assert CPUBackend.index_problem(DeviceSpec("cpu", 0)) == "cpu:0 does not exist: the CPU takes no index, write cpu"
    with pytest.raises(UsageError, match="cpu:1 does not exist: the CPU takes no index"):
        parse_device_list("cpu:1")


def test_the_cpu_is_the_synchronous_reference_that_runs_ddp(cpu: CPUBackend) -> None:
    assert cpu.reference and cpu.synchronous and cpu.strategies == ("ddp",)
    assert cpu.torch_device == torch.device("cpu")
    assert cpu.lightning_accelerator() == "cpu" and cpu.lightning_devices() == 1
    assert not cpu.pin_memory
    assert cpu.label("Xeon", "fp32 IEEE") == "CPU (Xeon) [fp32 IEEE]"


def test_synchronize_has_nothing_to_wait_for(cpu: CPUBackend) -> None:
    x = torch.ones(64, 64)
    y = x @ x
    assert cpu.synchronize() is None
    assert float(y[0, 0]) == 64.0  # an eager op's result is there as soon as it returns


def test_the_cpu_times_with_the_host_clock(cpu: CPUBackend) -> None:
    clock = cpu.clock()
    assert type(clock) is DeviceClock and not clock.on_device and clock.source == "host perf_counter"
    marks = [clock.mark()]
    time.sleep(0.02)
    marks.append(clock.mark())
    marks.append(clock.mark())
    first, second = clock.intervals(marks)
    assert 0.015 < first < 1.0 and 0.0 <= second < first


@pytest.mark.parametrize(("precision", "math_mode"), [("32-true", "fp32 IEEE"),
                                                      ("bf16-mixed", "bf16 autocast, fp32 weights")])
def test_the_cpu_runs_fp32_and_bf16_autocast_and_says_so(cpu: CPUBackend, precision: str, math_mode: str) -> None:
    assert cpu.supports_precision(precision) == (True, "")
    assert cpu.configure_precision(precision) == {"math_mode": math_mode}


@pytest.mark.parametrize(("precision", "reason"), [
    ("16-mixed", "unsupported on this device: Lightning's 16-mixed needs a GPU"),
    ("32-tf32", "unsupported on this device: 32-tf32 is a GPU/XLA math mode; the CPU computes fp32 as IEEE"),
])
def test_the_cpu_refuses_the_accelerators_precisions_with_the_reason(cpu: CPUBackend, precision: str,
                                                                     reason: str) -> None:
    assert cpu.supports_precision(precision) == (False, reason)


def test_the_facts_record_the_threads_torch_runs_with(cpu: CPUBackend) -> None:
    assert cpu.facts() == {"hardware": cpu_model(), "torch_threads": torch.get_num_threads()}
    before = torch.get_num_threads()
    with cpu.process_settings(StepOptions(threads=1)):
        assert cpu.facts()["torch_threads"] == 1
    assert cpu.facts()["torch_threads"] == before


def test_a_measured_window_reports_the_packages_energy_or_why_not(cpu: CPUBackend) -> None:
    assert cpu.end_measurement() == {}  # no window was opened
    cpu.begin_measurement()
    window = cpu.end_measurement()
    energy = window["energy"]
    assert energy["source"] == "rapl" and energy["window_s"] >= 0
    if energy["joules"] is None:
        assert energy["reason"].startswith("not measurable here")
    else:
        assert energy["joules"] >= 0 and energy["reason"] == ""


def test_the_cpu_has_no_runtime_counters_memory_figures_or_window_checks(cpu: CPUBackend) -> None:
    assert cpu.counters() == {} and cpu.memory() == {}
    assert cpu.check_measurement({}) == "" and cpu.measurement_warning({}, 10, 3) == ""
    assert cpu.peak_probe_problem() == ""
    assert cpu.optimizer_options("32-true") == {} and cpu.process_env(StepOptions(threads=1)) == {}
    loader = [1, 2, 3]
    assert cpu.device_loader(loader) is loader
