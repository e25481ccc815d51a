"""pytest-benchmark benchmarks of the tweetbench workload, on every device that is here.

Two modes, chosen by how pytest is run:

* **full** — ``pytest --benchmark-only`` (or ``make bench``): the reference ``v1`` workload, with
  explicit warm-up rounds and enough rounds for a stable median; the Lightning-overhead
  benchmark asserts the 0.95 target on CPU. pytest-benchmark skips every non-benchmark test,
  so exactly these benchmarks run.
* **fast** — any other pytest run (``make test``, CI): the ``tiny`` workload, 1 warm-up round
  and ``FAST_ROUNDS`` rounds, so CI keeps the benchmarks working in seconds. No speed is
  asserted: fast-mode figures are not measurements.

The environment variable ``TWEETBENCH_BENCH_WORKLOAD=v1|tiny|...`` overrides the mode's workload
(an environment variable, not a pytest option: a conftest under ``testpaths`` is loaded too late to
add options when pytest runs from the repository root). Each benchmark is parametrized
over every device kind tweetbench knows (ids ``cpu``, ``gpu``, ``tpu``, ``xla-cpu``, so ``-k gpu``
selects the GPU ones); a device that is not here skips with the probe's reason. ``xla-cpu`` is
skipped in fast mode: XLA compiles each new graph for seconds on this CPU (minutes for v1). In full
mode it is opt-in: XLA on the host CPU is a test device, not hardware anyone buys, and its v1 compiles
took most of a 25-minute ``--benchmark-only`` run. Opt in with ``-m xla`` (or a ``-k`` naming xla) or
``TWEETBENCH_BENCH_XLA=1``. A TPU, real hardware, runs whenever it is here.

Each timed function synchronises the device before it returns, so a round covers the device's
work, not just the launch. Benchmarks are grouped by scenario (``train-step``, ``forward``,
``infer-batch1``, ``infer-batch256``, ``lightning-overhead``) so that the pytest-benchmark table
and ``--benchmark-compare`` line the devices up; ``extra_info`` carries samples/s, the device
and the workload fingerprint. ``tweetbench report --pytest-benchmark FILE.json`` folds a
``--benchmark-json`` file into summary.md. The shared pieces live in ``benchrig.py``.
"""

from __future__ import annotations

import os

import pytest
import torch
from benchrig import (
    FAST_WORKLOAD,
    FULL_WORKLOAD,
    XLA_KINDS,
    Mode,
    Rig,
    build_rig,
    device_params,
)

from tweetbench.config import WORKLOADS, get_workload
from tweetbench.devices import DeviceSpec, create_backend, probe

WORKLOAD_ENV = "TWEETBENCH_BENCH_WORKLOAD"
XLA_ENV = "TWEETBENCH_BENCH_XLA"
OPT_IN_KINDS = ("xla-cpu",)  # run in full mode only when asked for (see the module docstring)


def xla_opted_in(config: pytest.Config) -> bool:
    """Whether this session asked for the XLA:CPU benchmarks: ``TWEETBENCH_BENCH_XLA=1``, or a ``-m`` or
    ``-k`` expression that names xla."""
    if os.environ.get(XLA_ENV, "").strip() not in ("", "0"):
        return True
    return any("xla" in (config.getoption(name) or "") for name in ("markexpr", "keyword"))


@pytest.fixture(scope="session")
def mode(pytestconfig: pytest.Config) -> Mode:
    """Full under --benchmark-only, fast otherwise; the workload from WORKLOAD_ENV if set."""
    full = bool(pytestconfig.getoption("benchmark_only"))
    name = os.environ.get(WORKLOAD_ENV) or (FULL_WORKLOAD if full else FAST_WORKLOAD)
    if name not in WORKLOADS:
        raise pytest.UsageError(f"{WORKLOAD_ENV}={name!r} is not a workload: choose one of {', '.join(WORKLOADS)}")
    return Mode(full, get_workload(name))


@pytest.fixture(scope="session", params=device_params())
def rig(request: pytest.FixtureRequest, mode: Mode) -> Rig:
    """The device of this parametrization, set up once per session; skips if it is not here.

    Session scope also makes pytest run all benchmarks of one device before the next device's."""
    kind: str = request.param
    availability = probe(DeviceSpec(kind))
    if not availability.available:
        pytest.skip(f"{kind} is not available here: {availability.reason}")
    if kind in XLA_KINDS and not mode.full:
        pytest.skip(f"{kind}: XLA compiles every new graph (seconds on this CPU, minutes for v1), too slow for "
                    "the fast mode; run it with pytest --benchmark-only -m xla")
    if kind in OPT_IN_KINDS and not xla_opted_in(request.config):
        pytest.skip(f"{kind}: opt-in (XLA on the host CPU compiles each new v1 graph for minutes); run it with "
                    f"pytest --benchmark-only -m xla, or {XLA_ENV}=1")
    return build_rig(kind, mode.workload)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start XLA before any benchmark runs when an XLA benchmark will run in this session.

    PyTorch's autograd engine sizes its per-device queues for the device types registered when it
    first runs a backward pass, counting the devices each type has then; if the CPU benchmarks run one
    before the XLA runtime has started, every later XLA backward fails with an internal assert
    (``device_ready_queues_``). So the first XLA kind that is here is set up (``PJRT_DEVICE``,
    ``import torch_xla``) and its device touched now, before the CPU benchmarks. Only in full mode:
    fast mode skips the XLA benchmarks.
    """
    if not config.getoption("benchmark_only"):
        return
    kinds = {getattr(item, "callspec", None) and item.callspec.params.get("rig") for item in items}
    if not xla_opted_in(config):
        kinds -= set(OPT_IN_KINDS)  # they will skip: starting their runtime would only cost time
    for kind in XLA_KINDS:
        if kind in kinds and probe(DeviceSpec(kind)).available:
            backend = create_backend(DeviceSpec(kind))
            backend.setup()
            torch.zeros(1, device=backend.torch_device)  # starts the runtime: XLA now has its devices
            return
