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
# v2/v3, (plc), v4, v5p, v5e, v6e, TPU7x (the ids JAX's hardware_utils lists).
_TPU_PCI_DEVICE_IDS = {"0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f", "0x0076"}


def tpu_chip_count(pci_root: Path = Path("/sys/bus/pci/devices")) -> int:
    """Count TPU chips attached through PCI, reading sysfs only (no network, no torch_xla)."""
    count = 0
    for vendor in pci_root.glob("*/vendor"):
        try:
            if vendor.read_text().strip() != _GOOGLE_PCI_VENDOR_ID:
                continue
            if (vendor.parent / "device").read_text().strip() in _TPU_PCI_DEVICE_IDS:
                count += 1
        except OSError:
            continue
    return count


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
