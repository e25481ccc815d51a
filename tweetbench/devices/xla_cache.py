"""XLA's persistent compile cache: compiled graphs kept on disk between runs, one folder per configuration.

A warm run skips the LSTM's compiles. The XLA backends (``devices/xla.py``) open the cache once the matmul
precision is set, in a folder of its own per torch_xla version, matmul precision, functionalization and
XLA_FLAGS (``compile_cache_key``), under a base that the processes a run starts inherit (``compile_cache_base``).

torch_xla is imported inside ``open_compile_cache`` only: importing it starts its runtime client, which must
not happen in the parent process nor before the backend's ``setup()`` has set ``PJRT_DEVICE``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from tweetbench.workload.corpus import default_cache_dir

PERSISTENT_CACHE_ENV = "XLA_PERSISTENT_CACHE_PATH"
# The base under which the keyed folders are made, for the processes a run starts (initialize_cache points
# XLA_PERSISTENT_CACHE_PATH at the keyed folder itself).
CACHE_BASE_ENV = "TWEETBENCH_XLA_CACHE_BASE"


def compile_cache_base() -> Path:
    """Where the compile caches' folders live: ``XLA_PERSISTENT_CACHE_PATH`` if the user set it, else under the
    tweetbench cache. A process started by one that opened its folder (a knob worker) inherits the same base."""
    inherited = os.environ.get(CACHE_BASE_ENV) or os.environ.get(PERSISTENT_CACHE_ENV)
    return Path(inherited or default_cache_dir() / "xla-compile")


def compile_cache_key(torch_xla: str | None, mat_mul: str, functionalization: str, xla_flags: str) -> str:
    """The compile cache's folder for one configuration: a readable name and a hash of everything it keys.

    torch_xla's graph hash covers the IR, XLA_FLAGS, LIBTPU_INIT_ARGS and the topology, but not the matmul
    precision nor the functionalization pass: one shared folder could load the other setting's executable.
    """
    key = {"torch_xla": torch_xla, "mat_mul_precision": mat_mul, "functionalization": functionalization,
           "XLA_FLAGS": xla_flags}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", f"torch_xla-{torch_xla or 'unknown'}")
    return f"{readable}-{mat_mul}-functionalization-{functionalization}-{digest}"


def open_compile_cache(base: Path, key: str) -> int | None:
    """Open this process's compile cache in ``base / key``; how many files it held then (0: a cold cache), or
    None where torch_xla's cache was already open (it opens once per process)."""
    import torch_xla
    import torch_xla.runtime as xr

    if torch_xla._XLAC._xla_computation_cache_is_initialized():
        return None
    cache = base / key
    cache.mkdir(parents=True, exist_ok=True)
    files = sum(1 for _ in cache.iterdir())
    xr.initialize_cache(str(cache), readonly=False)  # sets XLA_PERSISTENT_CACHE_PATH for any child
    os.environ[CACHE_BASE_ENV] = str(base)
    return files
