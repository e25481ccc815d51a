"""RAPL energy through powercap: a package tree laid out as the kernel does, and this machine's own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tweetbench.devices.rapl import POWERCAP, RaplMeter, counter_delta, find_zones


def _zone(root: Path, name: str, label: str, energy: int, max_range: int = 262_143_328_850) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{energy}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    return zone


@pytest.fixture
def two_packages(tmp_path: Path) -> Path:
    _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    _zone(tmp_path, "intel-rapl:1", "package-1", 5_000_000)
    _zone(tmp_path, "intel-rapl:0:0", "core", 10)  # a sub-zone: inside package-0, not added again
    _zone(tmp_path, "intel-rapl:2", "psys", 10)  # the platform zone: not a CPU package
    return tmp_path


def test_packages_are_summed_over_the_window(two_packages: Path):
    meter = RaplMeter(two_packages)
    assert meter.available and [z.name for z in meter.zones] == ["package-0", "package-1"]
    meter.begin()
    (two_packages / "intel-rapl:0" / "energy_uj").write_text("3500000\n")
    (two_packages / "intel-rapl:1" / "energy_uj").write_text("5500000\n")
    window = meter.end()
    assert window["joules"] == pytest.approx(3.0) and window["reason"] == ""
    assert window["source"] == "rapl" and window["zones"] == ["package-0", "package-1"]
    assert window["window_s"] > 0 and window["mean_power_w"] == pytest.approx(3.0 / window["window_s"])


def test_a_counter_that_wraps_around_is_counted_across_the_wrap():
    assert counter_delta(before=990, after=10, max_range=1000) == 20
    assert counter_delta(before=10, after=990, max_range=1000) == 980


def test_no_powercap_says_not_measurable_and_why(tmp_path: Path):
    meter = RaplMeter(tmp_path / "absent")
    assert not meter.available and meter.reason.startswith("not measurable here:")
    meter.begin()
    window = meter.end()
    assert window["joules"] is None and window["mean_power_w"] is None
    assert "does not exist" in window["reason"]


def test_no_package_zone(tmp_path: Path):
    _zone(tmp_path, "intel-rapl:0", "psys", 1)
    zones, reason = find_zones(tmp_path)
    assert zones == [] and "no RAPL package zone" in reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_root_only_counter_is_explained(two_packages: Path):
    (two_packages / "intel-rapl:0" / "energy_uj").chmod(0o000)
    zones, reason = find_zones(two_packages)
    assert zones == [] and "readable only by root" in reason


def test_this_machine_gives_a_number_or_a_reason():
    meter = RaplMeter(POWERCAP)
    meter.begin()
    window = meter.end()
    assert (window["joules"] is not None and window["joules"] >= 0) or window["reason"].startswith(
        "not measurable here:")
