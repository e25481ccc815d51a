"""CPU package energy from RAPL counters, read through Linux powercap (``/sys/class/powercap``).

Each CPU package has a zone (``intel-rapl:N``, named ``package-N``; AMD CPUs use the same driver
and names) whose ``energy_uj`` counts microjoules and wraps at ``max_energy_range_uj``. The
energy of a window is the sum over packages of the counter's difference, wrap-around included.

What it measures is the whole package: every process on those cores, and the uncore, not only
this benchmark. Where the counters cannot be read (no powercap in a VM or container, or the
counters are readable only by root, as kernels have made them since the Platypus side channel),
the reason is reported instead of a number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweetbench.devices.base import energy_window

POWERCAP = Path("/sys/class/powercap")
SCOPE = "CPU packages (all processes on them), from RAPL"


@dataclass(frozen=True)
class RaplZone:
    """One package zone: its name, its counter file and the value at which the counter wraps."""

    name: str
    energy_file: Path
    max_range_uj: int

    def read_uj(self) -> int:
        return int(self.energy_file.read_text().strip())


def _read(path: Path) -> str:
    return path.read_text().strip()


def find_zones(root: Path = POWERCAP) -> tuple[list[RaplZone], str]:
    """The readable package zones under ``root``, or ([], why not)."""
    prefix = "not measurable here: "
    if not root.is_dir():
        return [], (f"{prefix}{root} does not exist (this kernel exposes no powercap interface, as in most "
                    "VMs and containers)")
    zones: list[RaplZone] = []
    for zone in sorted(root.glob("*-rapl:*")):
        # Top-level zones only (intel-rapl:0); sub-zones (intel-rapl:0:0, core/uncore/dram) are inside them.
        if zone.name.count(":") != 1:
            continue
        try:
            name = _read(zone / "name")
        except OSError:
            continue
        if not name.startswith("package"):
            continue
        energy = zone / "energy_uj"
        try:
            max_range = int(_read(zone / "max_energy_range_uj"))
            int(_read(energy))
        except PermissionError:
            return [], (f"{prefix}{energy} is readable only by root (kernels restrict RAPL since the Platypus "
                        "side channel); run as root or make it readable to measure CPU energy")
        except (OSError, ValueError) as exc:
            return [], f"{prefix}cannot read {energy}: {getattr(exc, 'strerror', None) or exc}"
        zones.append(RaplZone(name, energy, max_range))
    if not zones:
        return [], f"{prefix}no RAPL package zone under {root} (no intel-rapl driver for this CPU)"
    return zones, ""


def counter_delta(before: int, after: int, max_range: int) -> int:
    """Microjoules between two readings of a counter that wraps at ``max_range``."""
    return after - before if after >= before else after + max_range - before


class RaplMeter:
    """Energy of the CPU packages over measured windows (``begin()`` ... ``end()``)."""

    def __init__(self, root: Path = POWERCAP) -> None:
        self.zones, self.reason = find_zones(root)
        self._start: list[int] | None = None
        self._started_at = 0.0

    @property
    def available(self) -> bool:
        return bool(self.zones)

    def begin(self) -> None:
        self._started_at = time.perf_counter()
        self._start = self._read_all()

    def _read_all(self) -> list[int] | None:
        try:
            return [zone.read_uj() for zone in self.zones] if self.zones else None
        except (OSError, ValueError) as exc:
            self.reason = f"not measurable here: a RAPL counter stopped being readable ({exc})"
            self.zones = []
            return None

    def end(self) -> dict[str, Any]:
        """The energy since ``begin()``, as an ``energy_window`` record."""
        window = time.perf_counter() - self._started_at
        after = self._read_all()
        if self._start is None or after is None:
            return energy_window("rapl", SCOPE, joules=None, window_s=window, reason=self.reason)
        micro = sum(counter_delta(b, a, zone.max_range_uj) for b, a, zone in zip(self._start, after, self.zones))
        record = energy_window("rapl", SCOPE, joules=micro / 1e6, window_s=window)
        record["zones"] = [zone.name for zone in self.zones]
        return record
