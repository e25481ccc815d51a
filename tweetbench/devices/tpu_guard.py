"""Keep Lightning from asking a cloud metadata server whether a TPU exists.

Lightning's ``XLAAccelerator.auto_device_count`` calls torch_xla's
``tpu.num_available_devices()``, which multiplies the PCI chip count by a per-chip core count
that it learns from an HTTP request to the cloud metadata host, even when there are no chips.
Every ``Trainer()`` logs TPU availability and so makes that request. We count TPU chips on the
PCI bus first and only defer to Lightning when there are some.
"""

from __future__ import annotations

import functools
from pathlib import Path

_GOOGLE_PCI_VENDOR_ID = "0x1ae0"
_PCI_ROOT = Path("/sys/bus/pci/devices")
# The TPU chips' PCI device ids and their generations, as JAX's hardware_utils lists them (0x0056 has no
# public name; 0x0027 is v2 or v3).
TPU_PCI_GENERATIONS = {"0x0027": "v2/v3", "0x0056": "plc", "0x005e": "v4", "0x0062": "v5p", "0x0063": "v5e",
                       "0x006f": "v6e", "0x0076": "TPU7x"}


def tpu_pci_generations(pci_root: Path = _PCI_ROOT) -> list[str]:
    """The generation of every TPU chip attached through PCI, reading sysfs only (no network, no torch_xla)."""
    found = []
    for vendor in sorted(pci_root.glob("*/vendor")):
        try:
            if vendor.read_text().strip() != _GOOGLE_PCI_VENDOR_ID:
                continue
            generation = TPU_PCI_GENERATIONS.get((vendor.parent / "device").read_text().strip())
        except OSError:
            continue
        if generation is not None:
            found.append(generation)
    return found


def tpu_chip_count(pci_root: Path = _PCI_ROOT) -> int:
    """Count TPU chips attached through PCI, reading sysfs only (no network, no torch_xla)."""
    return len(tpu_pci_generations(pci_root))


_installed = False


def install() -> None:
    """Patch Lightning's XLA device count so that a machine with no TPU chip never asks the network."""
    global _installed
    if _installed:
        return
    from lightning_fabric.accelerators import xla as fabric_xla

    original = fabric_xla.XLAAccelerator.auto_device_count

    @functools.lru_cache(maxsize=1)
    def auto_device_count() -> int:
        if tpu_chip_count() == 0:
            return 0
        return original()

    fabric_xla.XLAAccelerator.auto_device_count = staticmethod(auto_device_count)  # type: ignore[method-assign]
    fabric_xla.XLAAccelerator.is_available.cache_clear()
    _installed = True
