"""Serving speed targets (issue 24), measured by LoadGen against the in-process SUT, interleaved in one process.

* SingleStream p50 within 1.10x a bare batch-1 forward of the same model (``model(x)`` under inference mode,
  then a device sync), rounds alternating bare, LoadGen, LoadGen, bare, ...; the ratio is the median of the
  rounds' ratios. Where the rest goes is in ``extra_info``: the SUT's own forward path (row slice, copy to the
  device, argmax, copy back) over the bare forward, and LoadGen's hand-off (its issue thread, the Python
  callback, QuerySamplesComplete) over that.
* The highest Server target QPS LoadGen calls VALID at the p99 bound (the serve scenario's search) at least
  0.8x the Offline samples/s at the batcher's maximum batch (``ServeConfig.max_batch_size``, 64: one v1 batch
  of 64 is about 12 ms on 2 cores, a quarter of the 50 ms bound), on the same device in the same run, with the
  batcher greedy (no batching timeout). ``extra_info["remainder"]`` says where the rest goes
  (``analysis.serve_gap``): the busy share the Server keeps idle to hold its p99, and what a request costs more in
  its smaller batches.

Every test here runs with torch's threads as the serve scenario sets them for the in-process SUT (every core but
one: LoadGen's issuing thread and the batcher's Python need a core of their own).

Asserted only in full mode (``--benchmark-only``) on the v1 CPU workload, never in the fast mode CI runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from benchrig import Mode, Rig

from tweetbench.analysis.qps_search import SearchConfig, search_max_qps
from tweetbench.analysis.serve_gap import server_gap
from tweetbench.config import ServeConfig
from tweetbench.harness.batcher import BatcherConfig
from tweetbench.harness.sut import InProcessSUT, LoadGenTest, Predictor, run_loadgen
from tweetbench.scenarios.serve_runner import inprocess_threads, torch_threads

pytest.importorskip("mlperf_loadgen")
TARGET_WORKLOAD = "tweets-bilstm-v1"
SINGLE_STREAM_TARGET, SERVER_TARGET = 1.10, 0.8
SERVE = ServeConfig()


@pytest.fixture(autouse=True)
def serving_threads() -> Iterator[int]:
    """torch's threads as the serve scenario sets them for the in-process SUT: every core but one, for LoadGen."""
    threads = inprocess_threads(None)
    with torch_threads(threads):
        yield threads


def _bare_p50(model: torch.nn.Module, rig: Rig, tokens: torch.Tensor, count: int) -> float:
    times = []
    with torch.inference_mode():
        for i in range(count):
            row = tokens[i % len(tokens): i % len(tokens) + 1].to(rig.device)
            began = time.perf_counter()
            model(row)
            rig.backend.synchronize()
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def _predictor_p50(predictor: Predictor, samples: int, count: int) -> float:
    times = []
    for i in range(count):
        began = time.perf_counter()
        predictor([i % samples], 1)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _single_stream_p50(predictor: Predictor, samples: int, count: int, log_dir: Path) -> float:
    test = LoadGenTest("SingleStream", min_duration_s=0.1, min_query_count=count, expected_latency_s=1e-5)
    figures = run_loadgen(test, lambda complete: InProcessSUT(predictor, BatcherConfig(1, 0.0), complete), samples,
                          log_dir)
    return float(figures["latency_s"]["p50_s"])


def test_single_stream_adds_little_to_a_bare_forward(benchmark, rig: Rig, mode: Mode, tmp_path: Path) -> None:
    model = rig.module.model.eval()
    tokens = rig.data.val.tokens
    predictor = Predictor(model, rig.backend, tokens)
    rounds, count = (12, 1000) if mode.full else (2, 100)
    _bare_p50(model, rig, tokens, 50)  # warm-up of both paths
    _single_stream_p50(predictor, len(tokens), 64, tmp_path / "warmup")

    def interleaved() -> dict[str, list[float]]:
        found: dict[str, list[float]] = {"bare": [], "sut": [], "loadgen": []}
        for r in range(rounds):
            order = ("bare", "loadgen") if r % 2 == 0 else ("loadgen", "bare")
            for side in order:
                if side == "bare":
                    found["bare"].append(_bare_p50(model, rig, tokens, count))
                    found["sut"].append(_predictor_p50(predictor, len(tokens), count))
                else:
                    found["loadgen"].append(_single_stream_p50(predictor, len(tokens), count, tmp_path / f"r{r}"))
        return found

    benchmark.group = "serve-single-stream"
    found = benchmark.pedantic(interleaved, rounds=1, warmup_rounds=0, iterations=1)
    ratios = [lg / bare for lg, bare in zip(found["loadgen"], found["bare"])]
    ratio = statistics.median(ratios)
    benchmark.extra_info.update(rig.info(
        mode=mode.name, ratio=ratio, round_ratios=ratios, target=SINGLE_STREAM_TARGET,
        bare_forward_p50_ms=statistics.median(found["bare"]) * 1e3,
        sut_forward_path_p50_ms=statistics.median(found["sut"]) * 1e3,
        loadgen_single_stream_p50_ms=statistics.median(found["loadgen"]) * 1e3,
        remainder={"sut_forward_path_over_bare_ms": (statistics.median(found["sut"]) - statistics.median(
            found["bare"])) * 1e3, "loadgen_handoff_over_sut_ms": (statistics.median(found["loadgen"])
                                                                   - statistics.median(found["sut"])) * 1e3}))
    if mode.full and rig.workload.name == TARGET_WORKLOAD and rig.backend.kind == "cpu":
        assert ratio <= SINGLE_STREAM_TARGET, (
            f"SingleStream p50 is {ratio:.3f}x a bare batch-1 forward (rounds {', '.join(f'{r:.3f}' for r in ratios)})"
            f", above the {SINGLE_STREAM_TARGET} target; remainder {benchmark.extra_info['remainder']}")


def _offline(predictor: Predictor, samples: int, seconds: float, expected: float, log_dir: Path) -> dict:
    test = LoadGenTest("Offline", min_duration_s=seconds, target_qps=expected)
    batcher = BatcherConfig(SERVE.max_batch_size, 0.0)
    return run_loadgen(test, lambda complete: InProcessSUT(predictor, batcher, complete), samples, log_dir)


def _server(predictor: Predictor, samples: int, seconds: float, qps: float, log_dir: Path) -> dict:
    test = LoadGenTest("Server", min_duration_s=seconds, min_query_count=500, target_qps=qps,
                       latency_bound_s=SERVE.latency_bound_ms / 1000, coalesce=SERVE.server_coalesce_queries)
    batcher = BatcherConfig(SERVE.max_batch_size, SERVE.batch_timeout_ms / 1000)
    return run_loadgen(test, lambda complete: InProcessSUT(predictor, batcher, complete), samples,
                       log_dir / f"server_{qps:.0f}")


def test_max_server_qps_at_the_bound_is_most_of_offline(benchmark, rig: Rig, mode: Mode, tmp_path: Path,
                                                        serving_threads: int) -> None:
    predictor = Predictor(rig.module.model.eval(), rig.backend, rig.data.val.tokens)
    samples = len(rig.data.val)
    seconds, runs = (10.0, 7) if mode.full else (1.0, 3)
    first = _offline(predictor, samples, 1.0, 1000.0, tmp_path / "offline_probe")  # sizes the measured Offline

    def measure() -> tuple[dict, object]:
        offline = _offline(predictor, samples, seconds, 1.5 * first["samples_per_s"], tmp_path / "offline")
        search = search_max_qps(lambda qps: _server(predictor, samples, seconds, qps, tmp_path),
                                SearchConfig(0.8 * offline["samples_per_s"], 0.05, runs))
        return offline, search

    benchmark.group = "serve-server-vs-offline"
    offline, search = benchmark.pedantic(measure, rounds=1, warmup_rounds=0, iterations=1)
    ratio = (search.max_valid_qps or 0.0) / offline["samples_per_s"]
    benchmark.extra_info.update(rig.info(
        mode=mode.name, offline_samples_per_s=offline["samples_per_s"], offline_valid=offline["valid"],
        max_server_qps=search.max_valid_qps, ratio=ratio, target=SERVER_TARGET, max_batch=SERVE.max_batch_size,
        batch_timeout_ms=SERVE.batch_timeout_ms, latency_bound_ms=SERVE.latency_bound_ms,
        coalesce=SERVE.server_coalesce_queries, remainder=server_gap(offline, search.best), torch_threads=serving_threads,
        points=[(p["target_qps"], p["validity"], p["latency_s"]["p99_s"]) for p in search.points]))
    if mode.full and rig.workload.name == TARGET_WORKLOAD and rig.backend.kind == "cpu":
        assert ratio >= SERVER_TARGET, (
            f"max Server QPS {search.max_valid_qps} is {ratio:.2f}x Offline's {offline['samples_per_s']:.0f} "
            f"samples/s at batch {SERVE.max_batch_size}, below the {SERVER_TARGET} target; remainder "
            f"{benchmark.extra_info['remainder']}")
