"""Serving speed targets (issue 24), measured by LoadGen against the in-process SUT, interleaved in one process.

* SingleStream p50 within 1.10x a bare batch-1 forward of the same model (``model(x)`` under inference mode,
  then a device sync): 60 short rounds, each a bare block, a block of the SUT's single-sample path
  (``Predictor.one``) and a LoadGen SingleStream run of 100 queries, in ABC / CBA order over the same samples;
  the ratio is the geometric mean of the rounds' LoadGen / bare ratios with its t interval
  (``ratios.paired_log_ratio``, as ``ab`` and the overhead use), asserted on the estimate. Where the rest goes is
  in ``extra_info``: the SUT's path (argmax, the int back) over the bare forward, and LoadGen's hand-off (its
  callback into Python, the response, QuerySamplesComplete) over that.
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
from tweetbench.analysis.ratios import paired_log_ratio
from tweetbench.analysis.serve_gap import server_gap
from tweetbench.config import ServeConfig
from tweetbench.harness.batcher import BatcherConfig
from tweetbench.harness.sut import InProcessSUT, LoadGenTest, Predictor, run_loadgen
from tweetbench.scenarios.serve_runner import inprocess_threads, torch_threads

pytest.importorskip("mlperf_loadgen")
TARGET_WORKLOAD = "tweets-bilstm-v1"
SINGLE_STREAM_TARGET, SERVER_TARGET = 1.10, 0.8
# SingleStream's rounds: short, so that the machine's drift (it swings by tens of percent over seconds here)
# stays within a round, where it cancels in the round's ratio.
ROUNDS, ROUND_QUERIES = 60, 100
SERVE = ServeConfig()


@pytest.fixture(autouse=True)
def serving_threads() -> Iterator[int]:
    """torch's threads as the serve scenario sets them for the in-process SUT: every core but one, for LoadGen."""
    threads = inprocess_threads(None)
    with torch_threads(threads):
        yield threads


def _bare_p50(model: torch.nn.Module, rig: Rig, rows: tuple[torch.Tensor, ...], start: int, count: int) -> float:
    times = []
    with torch.inference_mode():
        for i in range(start, start + count):
            row = rows[i % len(rows)].to(rig.device)
            began = time.perf_counter()
            model(row)
            rig.backend.synchronize()
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def _sut_path_p50(predictor: Predictor, samples: int, start: int, count: int) -> float:
    """SingleStream's path through the SUT (``Predictor.one``), in a loop, with the grad mode entered once."""
    times = []
    with predictor.grad_mode_entered():
        for i in range(start, start + count):
            began = time.perf_counter()
            predictor.one(i % samples)
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def _single_stream_p50(predictor: Predictor, samples: int, count: int, seed: int, log_dir: Path) -> float:
    test = LoadGenTest("SingleStream", min_duration_s=0.01, min_query_count=count, expected_latency_s=1e-5,
                       seed=seed)
    figures = run_loadgen(test, lambda complete: InProcessSUT(predictor, BatcherConfig(1, 0.0), complete), samples,
                          log_dir)
    return float(figures["latency_s"]["p50_s"])


def test_single_stream_adds_little_to_a_bare_forward(benchmark, rig: Rig, mode: Mode, tmp_path: Path) -> None:
    model = rig.module.model.eval()
    tokens = rig.data.val.tokens
    rows, samples = tokens.split(1), len(tokens)
    predictor = Predictor(model, rig.backend, tokens)
    rounds, count = (ROUNDS, ROUND_QUERIES) if mode.full else (2, 50)
    _bare_p50(model, rig, rows, 0, 50)  # warm-up of every path
    _sut_path_p50(predictor, samples, 0, 50)
    _single_stream_p50(predictor, samples, 64, 0, tmp_path / "warmup")

    def interleaved() -> dict[str, list[float]]:
        found: dict[str, list[float]] = {"bare": [], "sut": [], "loadgen": []}
        for r in range(rounds):
            start = r * count  # each round's samples, the same on every side
            sides = ("bare", "sut", "loadgen") if r % 2 == 0 else ("loadgen", "sut", "bare")
            for side in sides:
                if side == "bare":
                    found["bare"].append(_bare_p50(model, rig, rows, start, count))
                elif side == "sut":
                    found["sut"].append(_sut_path_p50(predictor, samples, start, count))
                else:
                    found["loadgen"].append(_single_stream_p50(predictor, samples, count, r, tmp_path / "loadgen"))
        return found

    benchmark.group = "serve-single-stream"
    found = benchmark.pedantic(interleaved, rounds=1, warmup_rounds=0, iterations=1)
    ratio = paired_log_ratio(found["bare"], found["loadgen"])
    bare, sut, lg = (statistics.median(found[side]) * 1e3 for side in ("bare", "sut", "loadgen"))
    benchmark.extra_info.update(rig.info(
        mode=mode.name, ratio=ratio.ratio, interval=[ratio.low, ratio.high], method=ratio.method,
        rounds=rounds, queries_per_round=count, target=SINGLE_STREAM_TARGET, bare_forward_p50_ms=bare,
        sut_forward_path_p50_ms=sut, loadgen_single_stream_p50_ms=lg,
        sut_path_over_bare=paired_log_ratio(found["bare"], found["sut"]).to_dict(),
        loadgen_over_sut_path=paired_log_ratio(found["sut"], found["loadgen"]).to_dict(),
        remainder={"sut_forward_path_over_bare_ms": sut - bare, "loadgen_handoff_over_sut_ms": lg - sut},
        raw_s=found))
    if mode.full and rig.workload.name == TARGET_WORKLOAD and rig.backend.kind == "cpu":
        assert ratio.ratio <= SINGLE_STREAM_TARGET, (
            f"SingleStream p50 is {ratio.ratio:.3f}x [{ratio.low:.3f}, {ratio.high:.3f}] a bare batch-1 forward "
            f"over {rounds} rounds, above the {SINGLE_STREAM_TARGET} target; remainder "
            f"{benchmark.extra_info['remainder']}")


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
