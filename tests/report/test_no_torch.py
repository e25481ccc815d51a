"""Renderers stay pure: importing every module of ``tweetbench.report`` loads no torch (checked in a fresh process,
since this suite's own process has loaded torch long before)."""

from __future__ import annotations

import subprocess
import sys

# Imports every module of the package, then each of ``extra``; exits with the first one after which torch is loaded.
PROBE = """
import importlib, pkgutil, sys
import tweetbench.report as package
names = [info.name for info in pkgutil.iter_modules(package.__path__, package.__name__ + ".")] + sys.argv[1:]
for name in names:
    importlib.import_module(name)
    if "torch" in sys.modules:
        sys.exit(f"importing {name} loaded torch")
print(len(names))
"""


def _probe(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *extra], capture_output=True, text=True, timeout=300)


def test_importing_every_report_module_loads_no_torch() -> None:
    done = _probe()
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
    assert int(done.stdout) >= 20  # every module was imported, not an empty listing


def test_the_probe_sees_a_module_that_loads_torch() -> None:
    done = _probe("tweetbench.devices")
    assert done.returncode == 1
    assert "importing tweetbench.devices loaded torch" in done.stderr
