"""The open division's interleaved measurements: closed and each knob (or the open result), on one device.

Every arm is a training module of its own, a copy of the same initial weights, computing its step
its own way (``StepOptions``). Each round runs every arm once for a short block, in an order that
is reversed every other round (A B C, C B A, ...: ABBA for more than two arms), so that drifts of
the machine's load hit every arm alike; the unit of comparison is then the round
(``analysis/division.py``). Each arm first runs one priming block outside the rounds: its
compiles, loader workers and first optimizer state land there, not in a measured block. A knob that
raises is recorded with its one-line error and left out of later rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tweetbench.analysis.overhead import pooled_median
from tweetbench.config import StepOptions
from tweetbench.devices import DeviceBackend
from tweetbench.errors import one_line
from tweetbench.harness.infer import run_inference
from tweetbench.harness.recorder import StepRecorder
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.dataset import EncodedSplit, make_loader
from tweetbench.workload.module import TweetClassifier


@dataclass
class Arm:
    """One way of computing the step, and what its blocks measured."""

    name: str
    options: StepOptions
    module: TweetClassifier
    # Per round, the block's samples: seconds per step (training, batched inference) or per request (batch 1).
    blocks: list[list[float]] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Block:
    """What one block runs: the workload's batches and precision, and how many steps it warms and measures."""

    batch_size: int
    seed: int
    precision: str
    warmup: int
    steps: int


def train_block(arm: Arm, backend: DeviceBackend, train: EncodedSplit, block: Block, round_index: int) -> StepRecorder:
    """One Lightning fit of ``block.warmup + block.steps`` steps on ``arm``; the window keeps host/device overlap."""
    recorder = StepRecorder(backend.synchronize, block.steps, warmup_steps=block.warmup, overlap=True,
                            step_boundary=backend.step_boundary)
    total = block.warmup + block.steps
    loader = backend.device_loader(make_loader(train, block.batch_size, seed=block.seed + round_index,
                                               total_batches=total, pin_memory=backend.pin_memory,
                                               workers=arm.options.loader_workers))
    with backend.process_settings(arm.options):
        make_trainer(backend, max_steps=total, callbacks=[recorder], precision=block.precision).fit(arm.module, loader)
    arm.module.pop_losses()
    return recorder


def _interleave(arms: Sequence[Arm], rounds: int, measure: Callable[[Arm, int], list[float] | None],
                on_block: Callable[[], None]) -> None:
    """``rounds`` rounds of one ``measure(arm, round)`` block per arm, every other round in reverse order.

    A block's samples (None: none to keep) join the arm's ``blocks``; a block that raises records its
    one-line error on the arm, which then sits out the later rounds (a knob that does not work here costs
    only its own arm).
    """
    for round_index in range(rounds):
        for arm in _order(arms, round_index):
            if arm.error:
                continue
            try:
                samples = measure(arm, round_index)
            except Exception as exc:
                arm.error = one_line(exc, limit=300)
            else:
                if samples is not None:
                    arm.blocks.append(samples)
            on_block()


def _order(arms: Sequence[Arm], round_index: int) -> Sequence[Arm]:
    return arms if round_index % 2 == 0 else arms[::-1]


def _seconds_per_step(recorder: StepRecorder) -> list[float]:
    return [recorder.measured_seconds / len(recorder.measured)]


def prime(arms: Sequence[Arm], backend: DeviceBackend, train: EncodedSplit, block: Block,
          on_block: Callable[[], None] = lambda: None) -> None:
    """Each arm's first block, outside the rounds: where its compiles happen. Its samples are not kept."""

    def warm(arm: Arm, _: int) -> None:
        train_block(arm, backend, train, block, 0)

    _interleave(arms, 1, warm, on_block)


def train_rounds(arms: Sequence[Arm], backend: DeviceBackend, train: EncodedSplit, block: Block, rounds: int,
                 on_block: Callable[[], None] = lambda: None) -> None:
    """``rounds`` interleaved rounds of one training block per arm; each block's sample is its seconds per step."""
    _interleave(arms, rounds, lambda arm, i: _seconds_per_step(train_block(arm, backend, train, block, i + 1)),
                on_block)


def infer_rounds(arms: Sequence[Arm], backend: DeviceBackend, split: EncodedSplit, block: Block, rounds: int, *,
                 overlap: bool, on_block: Callable[[], None] = lambda: None) -> None:
    """Interleaved rounds of predict blocks: batch-1 requests (each synchronised; samples per request) or
    batched throughput (``overlap``: the window's seconds per batch)."""

    def measure(arm: Arm, round_index: int) -> list[float]:
        with backend.process_settings(arm.options):
            run = run_inference(arm.module, backend, split, batch_size=block.batch_size, warmup=block.warmup,
                                batches=block.steps, seed=block.seed + round_index, precision=block.precision,
                                overlap=overlap)
        return [run.window_seconds / len(run.host_batch_seconds)] if overlap else list(run.batch_seconds)

    _interleave(arms, rounds, measure, on_block)


def median_sample(arm: Arm) -> float | None:
    """The median of every sample of the arm's blocks (seconds per step or per request)."""
    return pooled_median(arm.blocks) if arm.blocks else None
