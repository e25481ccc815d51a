"""Device facts come from the backends and one helper: labels, file names, the reference device."""

from __future__ import annotations

import pytest

from tweetbench import devices
from tweetbench.devices import BACKENDS, Availability, DeviceSpec, file_stem
from tweetbench.records import REFERENCE_KIND


@pytest.mark.parametrize("kind, label", [
    ("cpu", "CPU (Xeon)"), ("gpu", "GPU (Xeon)"), ("tpu", "TPU (Xeon)"), ("xla-cpu", "XLA on CPU (not a TPU)"),
])
def test_every_backend_names_its_label(kind: str, label: str) -> None:
    assert BACKENDS[kind].label("Xeon") == label


def test_the_cpu_is_the_one_reference_device() -> None:
    assert REFERENCE_KIND == "cpu"
    assert [kind for kind, backend in BACKENDS.items() if backend.reference] == ["cpu"]


@pytest.mark.parametrize("name, stem", [("cpu", "cpu"), ("gpu:1", "gpu-1"), ("tpu:8", "tpu-8")])
def test_file_names_never_hold_a_colon(name: str, stem: str) -> None:
    assert file_stem(name) == stem
    assert devices.parse_device(name, counted=name.startswith("tpu")).file_stem == stem


def test_describe_is_the_device_section_of_a_result() -> None:
    section = devices.describe(DeviceSpec("xla-cpu"), Availability(True, "x86_64", facts={"a": 1}), {"b": 2})
    assert section == {"name": "xla-cpu", "kind": "xla-cpu", "label": "XLA on CPU (not a TPU)",
                       "hardware": "x86_64", "facts": {"a": 1, "b": 2}}
