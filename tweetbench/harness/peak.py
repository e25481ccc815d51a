"""A short matmul probe: the FLOP/s this device actually reaches, in fp32 and bf16.

The workload's achieved FLOP/s is reported as a share of this measured peak rather than of a
datasheet figure, so that the percentage means the same thing on every device, whether a
datasheet exists or not. Each dtype takes well under two seconds:

1. size: the square size doubles from 512 while one matmul takes under ``target_matmul_s``
   (up to 8192), so a fast device is measured on matrices large enough to fill it;
2. warm-up: two chained matmuls, untimed (library handles, kernel selection, caches);
3. measurement: ``repeats`` timed blocks of ``k`` chained matmuls, each between two device
   synchronisations; ``k`` is chosen so that a block lasts about ``block_s``.

The peak is the best block (the device's capability, not its typical rate); every block is
kept. The matmuls are chained (``x = x @ w``) so that a lazy backend cannot skip any of them, and
``w`` is scaled so that the values neither blow up nor vanish along the chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from tweetbench.errors import first_line

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16}
MIN_SIZE = 512
MAX_SIZE = 8192
MAX_CHAIN = 10_000


@dataclass(frozen=True)
class PeakConfig:
    """How long the probe may run; the defaults keep one dtype under about two seconds."""

    target_matmul_s: float = 0.02
    block_s: float = 0.1
    repeats: int = 5
    max_size: int = MAX_SIZE
    dtypes: tuple[str, ...] = ("fp32", "bf16")

    @classmethod
    def for_budget(cls, seconds: float) -> PeakConfig:
        """A probe of about ``seconds`` per dtype (1.0 gives the defaults)."""
        return cls(target_matmul_s=seconds / 50, block_s=seconds / 10)


@dataclass
class DtypePeak:
    """The probe's outcome for one dtype: the best FLOP/s, or why it was not measured."""

    dtype: str
    flops_per_s: float | None = None
    size: int | None = None
    chain: int | None = None
    block_flops_per_s: list[float] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        if self.flops_per_s is None:
            return {"dtype": self.dtype, "flops_per_s": None, "reason": self.reason}
        return {"dtype": self.dtype, "flops_per_s": self.flops_per_s, "size": self.size, "chain": self.chain,
                "block_flops_per_s": self.block_flops_per_s, "method": "best of synced blocks of chained "
                "square matmuls, 2*n^3 FLOPs each, warm-up apart"}


def _chain(x: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
    for _ in range(k):
        x = x @ w
    return x


def _timed(sync: Callable[[], None], fn: Callable[[], Any]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def probe_dtype(device: torch.device, dtype_name: str, synchronize: Callable[[], None],
                config: PeakConfig = PeakConfig()) -> DtypePeak:
    """Measure the best matmul FLOP/s of one dtype on ``device``."""
    dtype = DTYPES[dtype_name]
    generator = torch.Generator().manual_seed(0)
    size, elapsed = MIN_SIZE, 0.0
    try:
        while True:
            # The weight is scaled by 1/sqrt(n): a chain of products then keeps its magnitude.
            w = (torch.randn(size, size, generator=generator) / size**0.5).to(device=device, dtype=dtype)
            x = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
            _timed(synchronize, lambda: _chain(x, w, 2))  # warm-up
            elapsed = _timed(synchronize, lambda: _chain(x, w, 1))
            if elapsed >= config.target_matmul_s or size * 2 > config.max_size:
                break
            size *= 2
        chain = min(MAX_CHAIN, max(1, round(config.block_s / max(elapsed, 1e-9))))
        flops = 2.0 * size**3 * chain
        blocks = [flops / _timed(synchronize, lambda: _chain(x, w, chain)) for _ in range(config.repeats)]
    except (RuntimeError, TypeError, NotImplementedError) as exc:
        # A dtype the device or its math library lacks: reported, not fatal.
        first = first_line(exc) or type(exc).__name__
        return DtypePeak(dtype_name, reason=f"{dtype_name} matmul failed on {device}: {first[:200]}")
    return DtypePeak(dtype_name, max(blocks), size, chain, blocks)


def measure_peak(device: torch.device, synchronize: Callable[[], None],
                 supports: Callable[[str], tuple[bool, str]] | None = None,
                 config: PeakConfig = PeakConfig()) -> dict[str, DtypePeak]:
    """The matmul peak of each dtype in ``config.dtypes``; ``supports(dtype)`` may rule one out first."""
    results: dict[str, DtypePeak] = {}
    for name in config.dtypes:
        ok, why = supports(name) if supports is not None else (True, "")
        results[name] = probe_dtype(device, name, synchronize, config) if ok else DtypePeak(name, reason=why)
    return results
