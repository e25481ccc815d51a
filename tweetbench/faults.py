"""Test-only faults, injected through one environment variable and read only here.

``TWEETBENCH_TEST_FAULT`` is a comma-separated list of ``TARGET:FAULT`` entries. The target is a
device name (``cpu``, ``gpu:1``) or a data-parallel rank (``rank1``). Production code asks this
module at its fault points and never parses the variable itself:

* ``device_fault(device)`` in the device worker: ``crash``, ``hang``, ``oom`` (``process_fault``
  carries them out) or ``nan`` (the training loss becomes NaN after warm-up); in the open division
  also ``broken-knob`` (a knob that changes the math joins the catalog: its accuracy gate must drop
  it) and ``broken-open`` (that knob becomes the open result without its gates: the result's gate
  must make it invalid);
* ``rank_fault(rank)`` in a data-parallel rank at batch ``RANK_FAULT_BATCH``: ``crash`` or ``hang``;
* ``memory_cap(device)`` in ``tweetbench tune``: ``oom-above-N``, batches above N rows do not fit.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Literal, NoReturn

from tweetbench.errors import UsageError

FAULT_ENV = "TWEETBENCH_TEST_FAULT"
# A rank fault fires at the start of this (0-based) training batch, when every rank is in the loop.
RANK_FAULT_BATCH = 2
ProcessFault = Literal["crash", "hang", "oom"]
PROCESS_FAULTS: tuple[ProcessFault, ...] = ("crash", "hang", "oom")
NAN = "nan"
BROKEN_KNOB = "broken-knob"
BROKEN_OPEN = "broken-open"
_MEMORY_CAP = "oom-above-"


def _entries(environ: Mapping[str, str] | None) -> list[tuple[str, str]]:
    env = os.environ if environ is None else environ
    return [(target.strip(), fault) for target, _, fault in
            (item.strip().rpartition(":") for item in env.get(FAULT_ENV, "").split(",") if item.strip())]


def _fault_for(target: str, environ: Mapping[str, str] | None) -> str | None:
    return next((fault for name, fault in _entries(environ) if name == target), None)


def device_fault(device: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The fault the test suite asks of ``device``'s worker, e.g. ``cpu:crash``; None without one."""
    return _fault_for(device, environ)


def rank_fault(rank: int, environ: Mapping[str, str] | None = None) -> str | None:
    """The fault the test suite asks of one rank, e.g. ``rank1:crash``; None without one."""
    return _fault_for(f"rank{rank}", environ)


def memory_cap(device: str, environ: Mapping[str, str] | None = None) -> int | None:
    """A memory cap for ``tweetbench tune`` (``cpu:oom-above-256``: batches above 256 rows do not fit)."""
    for name, fault in _entries(environ):
        if name == device and fault.startswith(_MEMORY_CAP):
            try:
                return int(fault.removeprefix(_MEMORY_CAP))
            except ValueError:
                raise UsageError(f"bad {FAULT_ENV} entry '{name}:{fault}': write {device}:oom-above-N") from None
    return None


def hang(who: str) -> NoReturn:
    """Hang on purpose, until killed."""
    print(f"tweetbench test fault: {who}hanging on purpose", file=sys.stderr, flush=True)
    while True:
        time.sleep(1)


def process_fault(fault: str | None) -> None:
    """Carry out a worker's ``crash``, ``hang`` or ``oom`` fault; any other fault is left to its fault point."""
    if fault == "crash":
        print("tweetbench test fault: crashing on purpose", file=sys.stderr, flush=True)
        os.abort()
    if fault == "hang":
        hang("")
    if fault == "oom":
        # A real allocation failure: cap the address space a little above what is mapped, then exceed it.
        import resource

        import psutil
        import torch

        print("tweetbench test fault: running out of memory on purpose", file=sys.stderr, flush=True)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (psutil.Process().memory_info().vms + 2**28, hard))
        torch.ones(2**32, dtype=torch.uint8)


def rank_batch_fault(rank: int, batch_idx: int) -> None:
    """In a data-parallel rank at the start of each training batch: crash or hang if asked to."""
    fault = rank_fault(rank)
    if batch_idx != RANK_FAULT_BATCH or not fault:
        return
    if fault == "crash":
        raise RuntimeError(f"tweetbench test fault: rank {rank} crashing on purpose")
    if fault == "hang":
        hang(f"rank {rank} ")
