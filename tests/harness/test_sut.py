"""LoadGen driving the in-process SUT: a stub device of known capacity, a failing device, LoadGen missing."""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from tweetbench.analysis.qps_search import SearchConfig, search_max_qps
from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.harness.batcher import BatcherConfig
from tweetbench.harness.sut import (
    InProcessSUT,
    LoadGenTest,
    Predictor,
    Responder,
    ServingUnavailable,
    loadgen,
    run_loadgen,
)

pytest.importorskip("mlperf_loadgen")

BATCH, SERVICE_S = 8, 0.01  # the stub serves any batch of up to 8 in 10 ms: a capacity of 800 samples/s
CAPACITY = BATCH / SERVICE_S
SAMPLES = 64


def stub_device(indices: Sequence[int], size: int) -> list[int]:
    time.sleep(SERVICE_S)
    return [index % 3 for index in indices]


def _server(tmp_path: Path, qps: float, predictor=stub_device) -> dict:
    test = LoadGenTest("Server", min_duration_s=1.0, min_query_count=500, target_qps=qps, latency_bound_s=0.1)
    config = BatcherConfig(BATCH, 0.0)
    return run_loadgen(test, lambda complete: InProcessSUT(predictor, config, complete), SAMPLES,
                       tmp_path / f"server_{qps:.0f}")


@pytest.mark.slow
def test_the_search_through_loadgen_finds_a_stub_devices_known_capacity(tmp_path: Path) -> None:
    result = search_max_qps(lambda qps: _server(tmp_path, qps), SearchConfig(300, 0.1, max_runs=8))
    assert result.max_valid_qps is not None
    # Poisson arrivals queue before the capacity is reached, so the bound is met a little below it; never above.
    assert 0.6 * CAPACITY <= result.max_valid_qps <= 1.1 * CAPACITY
    assert all((tmp_path / f"server_{p['target_qps']:.0f}" / "mlperf_log_summary.txt").exists()
               for p in result.points)
    over = _server(tmp_path, 2 * result.max_valid_qps)
    assert over["validity"] == "INVALID" and over["latency_s"]["p99_s"] > 0.1


def test_single_stream_answers_every_query_with_the_predicted_class(tmp_path: Path) -> None:
    # LoadGen pre-generates min_duration / expected_latency queries: 1 µs, as a stub's query takes ~3 µs.
    test = LoadGenTest("SingleStream", min_duration_s=0.2, min_query_count=64, expected_latency_s=0.000001,
                       audit_probability=1.0)
    figures = run_loadgen(test, lambda c: InProcessSUT(lambda idx, size: [i % 3 for i in idx], BatcherConfig(1, 0.0),
                                                       c), SAMPLES, tmp_path)
    assert figures["valid"] and figures["completed"] >= 64
    assert figures["accuracy_log"] and all(cls == index % 3 for index, cls in figures["accuracy_log"].items())


def test_a_failing_device_ends_the_test_and_raises_instead_of_hanging(tmp_path: Path) -> None:
    def broken(indices: Sequence[int], size: int) -> list[int]:
        raise RuntimeError("device lost")

    started = time.time()
    with pytest.raises(RuntimeError, match="device lost"):
        _server(tmp_path, 200, broken)
    assert time.time() - started < 30


def test_loadgen_missing_is_one_unavailable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlperf_loadgen", None)
    with pytest.raises(ServingUnavailable, match="pip install mlcommons-loadgen") as caught:
        loadgen()
    assert "\n" not in str(caught.value)


def test_coalescing_is_a_server_setting_loadgen_logs_and_the_sut_reports_its_batching(tmp_path: Path) -> None:
    lg = loadgen()
    assert LoadGenTest("Server", coalesce=True).settings(lg).server_coalesce_queries is True
    assert LoadGenTest("Server").settings(lg).server_coalesce_queries is False
    test = LoadGenTest("Server", min_duration_s=0.5, min_query_count=100, target_qps=200, latency_bound_s=0.1,
                       coalesce=True)
    figures = run_loadgen(test, lambda complete: InProcessSUT(stub_device, BatcherConfig(BATCH, 0.0), complete),
                          SAMPLES, tmp_path / "coalesced")
    assert figures["settings"]["server_coalesce_queries"] is True
    batching = figures["batching"]
    assert batching["inline"] is False and batching["batches"] >= 1
    # Every batch sleeps SERVICE_S in the stub: the busy time is at least that per batch.
    assert batching["busy_s"] >= SERVICE_S * batching["batches"]


class _Classifier(torch.nn.Module):
    """A small model that records, for each forward, its thread and whether autograd was off."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding, self.head = torch.nn.Embedding(50, 8), torch.nn.Linear(8, 5)
        self.calls: list[tuple[int, bool]] = []

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        self.calls.append((threading.get_ident(), torch.is_grad_enabled()))
        return self.head(self.embedding(tokens).mean(dim=1))


def _predictor(grad_mode=torch.inference_mode) -> Predictor:
    tokens = torch.randint(0, 50, (SAMPLES, 12), generator=torch.Generator().manual_seed(1))
    return Predictor(_Classifier(), create_backend(DeviceSpec("cpu")), tokens, grad_mode)


def test_the_single_sample_path_answers_as_the_batch_path_does_with_autograd_off() -> None:
    predictor = _predictor()
    batch = predictor(list(range(SAMPLES)), SAMPLES)
    assert [predictor.one(i) for i in range(SAMPLES)] == batch == [predictor([i], 1)[0] for i in range(SAMPLES)]
    assert len(set(batch)) > 1  # a model that answers one class everywhere would show nothing
    with predictor.grad_mode_entered():
        assert [predictor.one(i) for i in range(SAMPLES)] == batch
    assert not any(grad for _, grad in predictor.model.calls)


def test_the_single_sample_path_turns_autograd_off_itself_where_the_mode_was_not_entered() -> None:
    # A grad mode that does nothing shows the check can fail: the forward then runs with autograd on.
    predictor = _predictor(contextlib.nullcontext)
    predictor.one(0)
    assert predictor.model.calls[-1][1] is True
    predictor = _predictor()
    predictor.one(0)
    assert predictor.model.calls[-1][1] is False


def test_single_stream_runs_inline_on_the_issuing_thread_with_the_grad_mode_entered_once(tmp_path: Path) -> None:
    predictor = _predictor()
    entered: list[int] = []
    grad_mode_entered = predictor.grad_mode_entered

    def counted():  # noqa: ANN202
        entered.append(threading.get_ident())
        return grad_mode_entered()

    predictor.grad_mode_entered = counted  # type: ignore[method-assign]
    test = LoadGenTest("SingleStream", min_duration_s=0.05, min_query_count=SAMPLES, expected_latency_s=0.00001,
                       audit_probability=1.0)
    figures = run_loadgen(test, lambda c: InProcessSUT(predictor, BatcherConfig(1, 0.0), c), SAMPLES, tmp_path)
    own = predictor(list(range(SAMPLES)), SAMPLES)
    assert figures["accuracy_log"] and all(cls == own[index] for index, cls in figures["accuracy_log"].items())
    assert entered == [threading.get_ident()]
    threads = {thread for thread, _ in predictor.model.calls}
    assert threads == {threading.get_ident()} and not any(grad for _, grad in predictor.model.calls)
    assert figures["batching"]["inline"] is True and figures["batching"]["batches"] == 0


class _RecordingLoadGen:
    """LoadGen's response type and QuerySamplesComplete, recording the int64 each response points at."""

    class QuerySampleResponse:
        def __init__(self, rid: int, data: int, size: int) -> None:
            self.id, self.data, self.size = rid, data, size

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int]] = []  # (response id, address, the value there)

    def QuerySamplesComplete(self, responses: list) -> None:  # noqa: N802  (LoadGen's name)
        for r in responses:
            assert r.size == 8
            self.seen.append((r.id, r.data, ctypes.c_int64.from_address(r.data).value))


def test_a_response_points_at_its_class_id_and_a_class_reuses_one_constant() -> None:
    lg = _RecordingLoadGen()
    responder = Responder(lg)
    responder([1, 2, 3], [4, -1, 4])
    responder((7,), (4,))
    assert [(rid, value) for rid, _, value in lg.seen] == [(1, 4), (2, -1), (3, 4), (7, 4)]
    addresses = {value: set() for _, _, value in lg.seen}
    for _, address, value in lg.seen:
        addresses[value].add(address)
    assert addresses == {4: addresses[4], -1: addresses[-1]} and len(addresses[4]) == 1
    assert responder.completed == 4
