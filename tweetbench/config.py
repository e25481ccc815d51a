"""Typed, frozen configuration: the workloads, the harness presets and the run options.

A workload fixes every shape and hyper-parameter of the measured work; a preset only says how
long the harness measures it. The two never mix: no preset changes a shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from tweetbench.errors import UsageError

T = TypeVar("T")

# A workload's numeric precision. "32-true" is IEEE fp32 on every device; "32-tf32" (CUDA: TF32 tensor-core
# matmuls and cuDNN RNN) and "32-xla-default" (XLA: fp32 inputs rounded to bf16 in the matmul, torch_xla's
# default) are fp32 weights and activations with a cheaper matmul, each its own variant.
Precision = Literal["32-true", "32-tf32", "32-xla-default", "bf16-mixed", "16-mixed"]
# The Lightning precision each runs under: the fp32 variants differ only in the device's matmul math mode.
LIGHTNING_PRECISION: dict[str, str] = {"32-true": "32-true", "32-tf32": "32-true", "32-xla-default": "32-true",
                                       "bf16-mixed": "bf16-mixed", "16-mixed": "16-mixed"}
# MLPerf's two divisions: closed fixes the implementation (stock PyTorch + Lightning); open lets each
# device compute the same step its fastest way (``StepOptions``), at the same accuracy.
Division = Literal["closed", "open"]
DIVISIONS: tuple[Division, ...] = ("closed", "open")
# An open variant's suffix, on its workload name and on its fingerprint.
OPEN_SUFFIX = "+open"
ScenarioName = Literal["benchmark", "convergence", "serve"]
# Lightning strategies tweetbench runs data-parallel (each device kind lists the ones it supports in
# DeviceBackend.strategies): DDP over torch.distributed (CPU, CUDA), and XLA across TPU cores, whose
# ranks Lightning's launcher spawns inside ``fit`` (SPAWNED_STRATEGIES).
StrategyName = Literal["ddp", "xla"]
STRATEGIES: tuple[StrategyName, ...] = ("ddp", "xla")
SPAWNED_STRATEGIES: tuple[StrategyName, ...] = ("xla",)
# ``run --on-interference``: what a measured window that other processes interfered with leads to. flag: record
# and name it; remeasure: measure it again (every attempt kept); invalid: the device's result is invalid.
OnInterference = Literal["flag", "remeasure", "invalid"]
ON_INTERFERENCE: tuple[OnInterference, ...] = ("flag", "remeasure", "invalid")


@dataclass(frozen=True)
class WorkloadConfig:
    """Every shape, hyper-parameter and seed of one benchmark workload."""

    name: str
    vocab_size: int = 20_000
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.3
    seq_len: int = 48
    batch_size: int = 32
    lr: float = 1e-3
    precision: Precision = "32-true"
    corpus_tweets: int = 40_000
    corpus_authors: int = 10
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    # Time-to-accuracy target of the convergence scenario (validation accuracy).
    target_accuracy: float = 0.80
    # How the step may be computed: not the work itself, so the fingerprint's hash leaves it out and
    # an open variant's fingerprint is the closed one's with the suffix ``+open`` (workload.fingerprint).
    division: Division = "closed"

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["split"] = list(self.split)
        return data

    def with_seed(self, seed: int) -> WorkloadConfig:
        return dataclasses.replace(self, seed=seed)


WORKLOADS: dict[str, WorkloadConfig] = {
    "v1": WorkloadConfig(name="tweets-bilstm-v1"),
    # Small shapes for tests and XLA compiles; its own name, so its own fingerprint.
    "tiny": WorkloadConfig(
        name="tweets-bilstm-tiny",
        vocab_size=2_000,
        embed_dim=32,
        hidden_size=32,
        seq_len=16,
        batch_size=16,
        corpus_tweets=2_000,
        corpus_authors=4,
        target_accuracy=0.60,
    ),
}
# Direction variants: the study's step from an LSTM to the BiLSTM. Same shapes otherwise, and their
# own names, so their own fingerprints (see tweetbench/variants.py for the precision variants).
WORKLOADS["v1-uni"] = dataclasses.replace(WORKLOADS["v1"], name="tweets-lstm-v1-uni", bidirectional=False)
WORKLOADS["tiny-uni"] = dataclasses.replace(WORKLOADS["tiny"], name="tweets-lstm-tiny-uni", bidirectional=False)
DEFAULT_WORKLOAD = "v1"


@dataclass(frozen=True)
class Preset:
    """How long the harness measures; never a shape."""

    name: str
    min_warmup_steps: int
    max_warmup_steps: int
    measured_steps: int
    latency_warmup: int
    latency_requests: int
    offline_warmup_batches: int
    offline_batches: int
    offline_batch_size: int
    overhead_rounds: int
    overhead_steps: int
    profile_steps: int
    advanced_profile_steps: int
    parity_steps: int
    # The convergence scenario's cap on epochs (early stopping usually ends it long before).
    max_epochs: int = 100
    # Seconds per dtype of the matmul peak probe (harness/peak.py).
    peak_budget_s: float = 1.0


# Each preset's settings: a row per setting, a column per preset.
_PRESET_NAMES = ("smoke", "quick", "standard")
_PRESET_TABLE: dict[str, tuple[Any, Any, Any]] = {
    #                          smoke  quick  standard
    "min_warmup_steps":       (2,     10,    20),
    "max_warmup_steps":       (10,    100,   150),
    "measured_steps":         (8,     1000,  3000),
    "latency_warmup":         (3,     50,    100),
    "latency_requests":       (20,    2000,  5000),
    "offline_warmup_batches": (1,     2,     3),
    "offline_batches":        (2,     40,    100),
    "offline_batch_size":     (256,   256,   256),
    "overhead_rounds":        (4,     12,    20),
    "overhead_steps":         (3,     50,    90),
    "profile_steps":          (5,     200,   300),
    "advanced_profile_steps": (3,     60,    100),
    "parity_steps":           (3,     5,     10),
    "max_epochs":             (3,     100,   100),
    "peak_budget_s":          (0.25,  1.0,   1.0),
}
PRESETS: dict[str, Preset] = {
    name: Preset(name, **{setting: values[column] for setting, values in _PRESET_TABLE.items()})
    for column, name in enumerate(_PRESET_NAMES)
}
DEFAULT_PRESET = "quick"


# ``run --scenario serve --server``: the system under test LoadGen drives. inprocess: a dynamic batcher feeding the
# model in the worker process; litserve: a LitServe HTTP server on 127.0.0.1 with its own dynamic batching.
ServerKind = Literal["inprocess", "litserve"]
SERVER_KINDS: tuple[ServerKind, ...] = ("inprocess", "litserve")
# The default p99 latency bound of the Server scenario (``--latency-bound-ms``): a tweet classifier runs inside a
# user-facing request (posting, a timeline refresh), whose whole budget is a few hundred ms; MLPerf bounds its
# interactive models' p99 at 15 ms (ResNet-50), 60 ms (DLRM) and 130 ms (BERT). 50 ms leaves the rest of the
# request most of the budget and stays well above one batch of the served model (see README, Serving).
DEFAULT_LATENCY_BOUND_MS = 50.0


@dataclass(frozen=True)
class ServeConfig:
    """How long LoadGen drives each serving scenario, the latency bound, the batcher and the QPS search.

    Durations are far shorter than MLPerf's 600 s: results are not MLPerf-compliant, and the report says so.
    """

    servers: tuple[ServerKind, ...] = ("inprocess",)
    latency_bound_ms: float = DEFAULT_LATENCY_BOUND_MS
    # The batcher: at most this many samples a forward, waiting at most ``batch_timeout_ms`` after a batch's first
    # (0, greedy: with one worker the batch grows with the load by itself; a wait only adds latency, see README).
    # On XLA, sizes snap to power-of-two buckets. LoadGen's ``server_coalesce_queries`` is off, recorded.
    max_batch_size: int = 64
    batch_timeout_ms: float = 0.0
    server_coalesce_queries: bool = False
    train_steps: int = 300  # the model is trained this many steps before it is served
    single_stream_s: float = 10.0
    offline_s: float = 5.0
    multi_stream_s: float = 5.0
    server_point_s: float = 10.0  # each point of the Server QPS search
    search_steps: int = 7  # LoadGen runs of the search at most, after its first point
    search_tolerance: float = 0.05  # stop when the highest VALID and lowest INVALID are this close (relative)
    overload_factor: float = 2.0  # the overload check's target: this times the found maximum
    multi_stream_samples: int = 8  # samples per MultiStream query (MLPerf's 8)
    # TEST01-like: the share of performance-run responses LoadGen logs, checked against the accuracy run's.
    audit_probability: float = 0.05

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["servers"] = list(self.servers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ServeConfig:
        fields = dict(data)
        fields["servers"] = tuple(fields.get("servers") or ("inprocess",))  # type: ignore[arg-type]
        return cls(**fields)  # type: ignore[arg-type]


# Seconds in smoke; in quick, a v1 run of every scenario (and the search's points) within ~6 minutes on 2 cores.
SERVE_PRESETS: dict[str, ServeConfig] = {
    "smoke": ServeConfig(train_steps=30, single_stream_s=1.0, offline_s=1.0, multi_stream_s=1.0, server_point_s=1.5,
                         search_steps=4, search_tolerance=0.15),
    "quick": ServeConfig(train_steps=600, single_stream_s=20.0, offline_s=10.0, multi_stream_s=10.0,
                         server_point_s=15.0, search_steps=6, search_tolerance=0.08),
    "standard": ServeConfig(train_steps=1000, single_stream_s=60.0, offline_s=60.0, multi_stream_s=60.0,
                            server_point_s=60.0, search_steps=8, search_tolerance=0.03),
}


@dataclass(frozen=True)
class DataSource:
    """Where the tweets come from: the built-in corpus (path None) or the user's file."""

    path: Path | None = None
    text_column: str = "text"
    label_column: str = "author"
    delimiter: str | None = None  # a CSV's delimiter; None: detect it (workload.reader)

    def to_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "path": None if self.path is None else str(self.path)}


@dataclass(frozen=True)
class ParallelPlan:
    """A data-parallel run: a Lightning strategy over ``devices`` devices on each of ``num_nodes`` nodes.

    Weak scaling: every device keeps the workload's batch, so the global batch is ``world_size``
    times it. ``timeout_s`` bounds each collective (a rank that hangs ends the run, never blocks it).
    """

    strategy: StrategyName
    devices: int
    num_nodes: int = 1
    timeout_s: float | None = None

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    @property
    def spawned(self) -> bool:
        """Whether Lightning's launcher starts the ranks inside ``fit`` (and joins them before it
        returns), so that the process that called ``fit`` is none of them."""
        return self.strategy in SPAWNED_STRATEGIES

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """What each device's worker applies besides the workload: ``run``'s options (``RunOptions``) hold them, and
    every ``DeviceJob`` they start gets them (keyword-only fields, after the class's own)."""

    # ``--threads``: torch.set_num_threads in the worker before anything runs; None keeps torch's default.
    # A knob of the run, not of the workload: it never changes the fingerprint.
    threads: int | None = None
    # ``--xla-functionalization``: torch_xla's functionalization pass, set in the worker before torch_xla loads
    # (None: torch_xla's default, on, or the user's XLA_DISABLE_FUNCTIONALIZATION). Recorded as a device fact.
    xla_functionalization: Functionalization | None = None
    # ``--on-interference``: flag, remeasure or invalid (see OnInterference).
    on_interference: OnInterference = "flag"
    # ``--scenario serve``: the serving scenario's settings (None for the other scenarios).
    serve: ServeConfig | None = None

    def worker_settings(self) -> dict[str, Any]:
        """These settings by name, for ``DeviceJob(..., **options.worker_settings())``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(WorkerSettings)}


@dataclass(frozen=True)
class DeviceJob(WorkerSettings):
    """Everything one device worker needs to run the benchmark on one device."""

    device: str
    workload: WorkloadConfig
    preset: Preset
    data: DataSource = field(default_factory=DataSource)
    scenario: ScenarioName = "benchmark"
    profile: bool = True
    trial: int = 0
    # Set for a data-parallel run: ``device`` then names a device count (``gpu:8``), not a card.
    parallel: ParallelPlan | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types, for the file a worker process reads back with ``from_dict``."""
        return {
            "device": self.device,
            "workload": self.workload.to_dict(),
            "preset": dataclasses.asdict(self.preset),
            "data": self.data.to_dict(),
            "scenario": self.scenario,
            "profile": self.profile,
            "trial": self.trial,
            "parallel": None if self.parallel is None else self.parallel.to_dict(),
            **self.worker_settings(),
            "serve": None if self.serve is None else self.serve.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceJob:
        workload = dict(data["workload"])
        workload["split"] = tuple(workload["split"])
        source = data["data"]
        return cls(
            device=data["device"],
            workload=WorkloadConfig(**workload),
            preset=Preset(**data["preset"]),
            data=DataSource(Path(source["path"]) if source["path"] else None, source["text_column"],
                            source["label_column"], source.get("delimiter")),
            scenario=data["scenario"],
            profile=data["profile"],
            trial=data["trial"],
            parallel=ParallelPlan(**data["parallel"]) if data.get("parallel") else None,
            threads=data.get("threads"),
            xla_functionalization=data.get("xla_functionalization"),
            on_interference=data.get("on_interference", "flag"),
            serve=ServeConfig.from_dict(data["serve"]) if data.get("serve") else None,
        )


AdamImpl = Literal["for-loop", "foreach", "fused"]
Functionalization = Literal["on", "off"]


@dataclass(frozen=True)
class StepOptions:
    """How the open division computes a training or inference step on one device; all unset is closed.

    None of them changes the model, the hyper-parameters, the optimizer's semantics, the batch, the
    data order or the precision: only the implementation (see ``DeviceBackend.open_knobs``).
    """

    adam: AdamImpl | None = None  # torch.optim.Adam's implementation (None: the device's closed choice)
    compile_backend: str | None = None  # torch.compile backend: inductor, openxla
    compile_mode: str | None = None  # inductor's mode: default, reduce-overhead (CUDA graphs), max-autotune-...
    threads: int | None = None  # torch.set_num_threads for the step
    cpu_affinity: tuple[int, ...] | None = None  # the logical CPUs every thread of the process is pinned to
    loader_workers: int = 0  # DataLoader worker processes that prefetch batches
    # torch_xla's functionalization pass (XLA_DISABLE_FUNCTIONALIZATION), read once when torch_xla loads: a knob
    # with it runs in worker processes of its own (scenarios/knob_process.py). None: the process's own setting.
    xla_functionalization: Functionalization | None = None
    # Test-only (fault ``broken-knob``): Adam maximizes the loss, a knob that changes the math on purpose.
    broken: bool = False

    def merged(self, other: StepOptions) -> StepOptions:
        """These options with every field that ``other`` sets taking its value (combining two knobs)."""
        default = StepOptions()
        changes = {f.name: getattr(other, f.name) for f in dataclasses.fields(other)
                   if getattr(other, f.name) != getattr(default, f.name)}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["cpu_affinity"] = None if self.cpu_affinity is None else list(self.cpu_affinity)
        return data


@dataclass(frozen=True)
class Knob:
    """One open-division knob option on one device: ``adam=fused``, ``compile=inductor``, ...

    ``problem`` says why it cannot run on this device ('' where it can); such a knob is recorded
    and dropped, never applied.
    """

    knob: str
    option: str
    setting: str  # what it does, as code a reader can check: torch.optim.Adam(fused=True)
    options: StepOptions
    problem: str = ""

    @property
    def name(self) -> str:
        return f"{self.knob}={self.option}"


def choose(table: Mapping[str, T], name: str, what: str, choices: Iterable[str] | None = None) -> T:
    """``table[name]``, or a one-line ``UsageError`` naming the ``choices`` (default: the table's names)."""
    try:
        return table[name]
    except KeyError:
        raise UsageError(f"unknown {what} {name!r}: choose one of {', '.join(choices or table)}") from None


def get_workload(name: str) -> WorkloadConfig:
    return choose(WORKLOADS, name, "workload", sorted(WORKLOADS))


def get_preset(name: str) -> Preset:
    return choose(PRESETS, name, "preset")


def lightning_precision(precision: str) -> str:
    """The ``Trainer(precision=...)`` that runs a workload precision (an unknown one passes through)."""
    return LIGHTNING_PRECISION.get(precision, precision)
