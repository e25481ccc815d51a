"""The inference harness on the host CPU with the tiny workload: batch-1 latency (every request synchronised, its
forward timed alone inside it) and batched throughput (a window synchronised at its ends, then synced batches)."""

from __future__ import annotations

import pytest

from tweetbench.config import WORKLOADS, DataSource
from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.harness.infer import run_inference
from tweetbench.harness.train import synced_steps
from tweetbench.workload.dataset import load_data
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier

TINY = WORKLOADS["tiny"]


@pytest.fixture(scope="module")
def cpu():
    backend = create_backend(DeviceSpec("cpu"))
    backend.setup()
    backend.configure_precision(TINY.precision)
    data = load_data(TINY, DataSource())
    module = TweetClassifier(build_model(TINY, data.num_classes), TINY.lr,
                             optimizer_options=backend.optimizer_options(TINY.precision))
    return backend, data, module


def test_batch1_latency_times_every_request_and_its_forward_alone(cpu) -> None:
    backend, data, module = cpu
    steps: list[int] = []
    run = run_inference(module, backend, data.val, batch_size=1, warmup=3, batches=8, seed=0,
                        precision=TINY.precision, on_step=steps.append)
    assert (run.batch_size, len(run.warmup_seconds), len(run.batch_seconds), len(run.model_seconds)) == (1, 3, 8, 8)
    assert all(0 < forward <= request for forward, request in zip(run.model_seconds, run.batch_seconds, strict=True))
    assert sum(run.batch_seconds) == pytest.approx(run.window_seconds)  # back to back, from the window's opening
    assert run.synced_seconds == [] and steps[-1] == 3 + 8  # every request is synchronised: none follow
    assert run.synchronous is backend.synchronous and run.clock_source == backend.clock().source
    assert run.device_batch_seconds is None and run.timer_pairs is None  # the CPU has no clock of its own
    assert module.training and module.forward_sync is None  # left as found, for the passes that follow


def test_throughput_is_one_window_synchronised_at_its_ends_then_synced_batches(cpu) -> None:
    backend, data, module = cpu
    steps: list[int] = []
    run = run_inference(module, backend, data.val, batch_size=32, warmup=2, batches=6, seed=0,
                        precision=TINY.precision, overlap=True, on_step=steps.append)
    assert (run.batch_size, len(run.warmup_seconds), len(run.batch_seconds)) == (32, 2, 6)
    assert run.host_batch_seconds == run.batch_seconds  # no device clock: the host's marks are the times
    assert sum(run.host_batch_seconds) == pytest.approx(run.window_seconds)
    assert len(run.synced_seconds) == synced_steps(6) and steps[-1] == 2 + 6 + synced_steps(6)
    assert run.model_seconds == []  # a forward synchronised alone would break the window's overlap
    assert module.training and module.forward_sync is None
