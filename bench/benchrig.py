"""The pieces the bench/ benchmarks share: the mode, the per-device rig, samples/s (see conftest.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from tweetbench.config import DataSource, WorkloadConfig
from tweetbench.devices import (
    BACKENDS,
    DeviceBackend,
    DeviceSpec,
    create_backend,
    probe,
)
from tweetbench.workload.dataset import TweetData, load_data, make_loader
from tweetbench.workload.fingerprint import workload_fingerprint
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier

FAST_ROUNDS = 3
FULL_WORKLOAD, FAST_WORKLOAD = "v1", "tiny"
XLA_KINDS = ("tpu", "xla-cpu")


@dataclass(frozen=True)
class Mode:
    """How hard the benchmarks run: ``full`` under --benchmark-only, ``fast`` otherwise."""

    full: bool
    workload: WorkloadConfig

    @property
    def name(self) -> str:
        return "full" if self.full else "fast"

    def rounds(self, full_rounds: int, full_warmup: int) -> dict[str, int]:
        """``benchmark.pedantic`` rounds: the given ones in full mode, a token few in fast mode."""
        if self.full:
            return {"rounds": full_rounds, "warmup_rounds": full_warmup, "iterations": 1}
        return {"rounds": FAST_ROUNDS, "warmup_rounds": 1, "iterations": 1}


@dataclass
class Rig:
    """One device, ready to benchmark: backend, data, a placed model and fixed batches."""

    backend: DeviceBackend
    label: str
    workload: WorkloadConfig
    data: TweetData
    fingerprint: str
    module: TweetClassifier
    train_batch: tuple[torch.Tensor, torch.Tensor]

    @property
    def device(self) -> torch.device:
        return self.backend.torch_device

    def eval_tokens(self, batch_size: int) -> torch.Tensor:
        """A fixed validation batch of ``batch_size`` tweets on the device (rows cycle if the split is smaller)."""
        tokens, _ = next(iter(make_loader(self.data.val, batch_size, seed=self.workload.seed, total_batches=1)))
        return tokens.to(self.device)

    def fresh_module(self) -> TweetClassifier:
        """A copy of the initial model, for benchmarks that train it through Lightning."""
        return copy.deepcopy(self.module)

    def info(self, **extra: Any) -> dict[str, Any]:
        """The ``extra_info`` every benchmark carries: the device and the workload's identity."""
        return {"device": self.backend.spec.name, "device_label": self.label, "workload": self.workload.name,
                "fingerprint": self.fingerprint, **extra}


def device_params() -> list[Any]:
    marks = {"gpu": [pytest.mark.gpu], "tpu": [pytest.mark.xla], "xla-cpu": [pytest.mark.xla]}
    return [pytest.param(kind, id=kind, marks=marks.get(kind, [])) for kind in BACKENDS]


def build_rig(kind: str, workload: WorkloadConfig) -> Rig:
    spec = DeviceSpec(kind)
    availability = probe(spec)
    backend = create_backend(spec)
    backend.setup()
    math = backend.configure_precision(workload.precision)
    data = load_data(workload, DataSource())
    model = build_model(workload, data.num_classes)
    fingerprint = workload_fingerprint(workload, data, model)  # of the initial weights, as tweetbench run does
    module = TweetClassifier(model, workload.lr, optimizer_options=backend.optimizer_options(workload.precision))
    module = module.to(backend.torch_device)
    tokens, labels = next(iter(make_loader(data.train, workload.batch_size, seed=workload.seed, total_batches=1)))
    label = BACKENDS[kind].label(availability.hardware, math["math_mode"])
    return Rig(backend, label, workload, data, fingerprint, module,
               (tokens.to(backend.torch_device), labels.to(backend.torch_device)))


def samples_per_s(benchmark: Any, batch_size: int) -> float | None:
    """``batch_size`` over the median round time, or None when pytest-benchmark kept no stats
    (``--benchmark-disable``)."""
    stats = getattr(benchmark, "stats", None)
    median = getattr(getattr(stats, "stats", None), "median", None) if stats else None
    return batch_size / median if median else None
