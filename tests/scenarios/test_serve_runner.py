"""The serve scenario's LoadGen runner against a stub predictor on the tiny workload's validation split: the
AccuracyOnly run against the model's own answers, a performance run's audited answers kept apart, and the
batcher the runner hands each run; also the device-dependent choices it makes (grad mode, buckets)."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from tweetbench.config import SERVE_PRESETS, WORKLOADS, DataSource, DeviceJob, get_preset
from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.harness.batcher import BatcherConfig
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.harness.sut import LoadGenTest
from tweetbench.scenarios.outcome import Outcome, Phases
from tweetbench.scenarios import serve_runner
from tweetbench.scenarios.serve_runner import (
    LoadGenRunner,
    ServeContext,
    batcher_buckets,
    grad_mode,
    interference_windows,
    median_seconds,
)
from tweetbench.workload.dataset import load_data

TINY = WORKLOADS["tiny"]
needs_loadgen = pytest.mark.skipif(importlib.util.find_spec("mlperf_loadgen") is None,
                                   reason="needs mlperf-loadgen (the project's 'serve' extra)")


def stub(indices: Sequence[int], size: int) -> list[int]:
    return [index % 4 for index in indices]


@pytest.fixture(scope="module")
def data():
    return load_data(TINY, DataSource())


@pytest.fixture
def context(data, tmp_path: Path) -> ServeContext:
    backend = create_backend(DeviceSpec("cpu"))
    config = dataclasses.replace(SERVE_PRESETS["smoke"], max_batch_size=8, offline_s=0.2, audit_probability=1.0)
    job = DeviceJob("cpu", TINY, get_preset("smoke"), DataSource(), "serve", serve=config)
    return ServeContext(job, backend, config, data, tmp_path / "loadgen", Phases(ProgressEmitter(io.StringIO()),
                                                                                   Outcome(), backend), tmp_path)


def _runner(context: ServeContext, predictor=stub, buckets: tuple[int, ...] | None = None) -> LoadGenRunner:
    return LoadGenRunner(context, "inprocess", predictor, buckets, {"problems": []})


@needs_loadgen
def test_the_accuracy_run_serves_every_sample_as_the_model_answers_it(context: ServeContext) -> None:
    runner = _runner(context)
    check = runner.accuracy(context.data.val.labels)
    assert check["problem"] == "" and check["matches_model"] is True
    assert check["samples"] == check["logged"] == context.samples and check["differing"] == 0
    assert check["predictions"] == stub(range(context.samples), context.samples)
    run = check["run"]
    assert run["batcher"] == BatcherConfig(8, 0.0).to_dict() and run["compile_problem"] == ""
    assert run["log_dir"] == "loadgen/inprocess/accuracy"  # relative to the run directory: the record travels
    assert (context.run_dir / run["log_dir"] / "mlperf_log_summary.txt").is_file()
    assert runner.audited == {} and runner.result["problems"] == []


@needs_loadgen
def test_a_predictor_that_answers_differently_when_served_fails_the_accuracy_check(context: ServeContext) -> None:
    """Served, it answers from the batcher's thread (0); in the model's own pass, from this one (1)."""
    def two_faced(indices: Sequence[int], size: int) -> list[int]:
        return [int(threading.current_thread() is threading.main_thread())] * len(indices)

    check = _runner(context, two_faced).accuracy(context.data.val.labels)
    assert check["matches_model"] is False and check["differing"] == context.samples
    assert check["problem"].startswith(f"served predictions differ from the model's own on {context.samples} of "
                                       f"{context.samples} samples")


@needs_loadgen
def test_a_performance_run_keeps_its_logged_answers_for_the_audit_not_in_its_figures(context: ServeContext) -> None:
    runner = _runner(context)
    figures = runner.offline(samples_per_s=20_000.0)
    assert "accuracy_log" not in figures and figures["log_dir"].startswith("loadgen/inprocess/offline")
    assert runner.audited and all(cls == index % 4 for index, cls in runner.audited.items())
    assert figures["batcher"] == BatcherConfig(8, 0.0).to_dict()


def test_the_cpu_predicts_in_inference_mode_at_any_batch_size() -> None:
    cpu = create_backend(DeviceSpec("cpu"))
    assert grad_mode(cpu) is torch.inference_mode
    assert batcher_buckets(cpu, 64) is None


@pytest.mark.parametrize(("buckets", "max_batch", "expected"), [
    (None, 12, None),
    ((1, 2, 4, 8, 16, 32, 64), 64, (1, 2, 4, 8, 16, 32, 64)),
    ((1, 2, 4, 8, 16, 32, 64), 12, (1, 2, 4, 8, 12)),  # the largest batch runs at its own size, not padded to 16
    ((16, 32), 8, (8,)),
])
def test_the_batcher_keeps_the_buckets_up_to_its_largest_batch(buckets: tuple[int, ...] | None, max_batch: int,
                                                                expected: tuple[int, ...] | None,
                                                                context: ServeContext) -> None:
    assert _runner(context, buckets=buckets).batcher(max_batch, 0.002) == BatcherConfig(max_batch, 0.002, expected)


def test_the_median_time_syncs_after_each_call() -> None:
    order: list[str] = []
    pauses = iter([0.0, 0.05, 0.001])

    def call() -> None:
        order.append("call")
        time.sleep(next(pauses))

    median = median_seconds(call, lambda: order.append("sync"), 3)
    assert order == ["call", "sync"] * 3
    assert 0.001 <= median < 0.05


OFFLINE = LoadGenTest("Offline", min_duration_s=0.2, target_qps=20_000.0)


class _Probe:
    """Stands in for the CPU probe: each window reads as interfered while ``interfered`` has True left."""

    interfered: list[bool] = []

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def result(self) -> dict:
        busy = _Probe.interfered.pop(0) if _Probe.interfered else False
        return {"cpu_measured": True, "cores": 2, "others_cores": 0.9 if busy else 0.0, "own_cores": 1.0,
                "steal_cores": 0.0, "cpu_window_s": 1.0, "others_cores_uncertainty": 0.0}


@needs_loadgen
@pytest.mark.parametrize(("policy", "windows", "kept"), [("flag", 1, "offline"), ("remeasure", 2, "offline_attempt2")])
def test_an_interfered_run_is_named_and_run_again_only_under_remeasure(
        context: ServeContext, monkeypatch: pytest.MonkeyPatch, policy: str, windows: int, kept: str) -> None:
    monkeypatch.setattr(serve_runner, "CpuProbe", _Probe)
    monkeypatch.setattr(_Probe, "interfered", [True, False])
    context.job = dataclasses.replace(context.job, on_interference=policy)
    figures = _runner(context).run("offline", OFFLINE, BatcherConfig(8, 0.0))
    assert Path(figures["log_dir"]).name == kept
    assert figures["interference"]["interfered"] is (policy == "flag")
    earlier = figures.get("remeasured") or []
    assert len(earlier) == windows - 1 and all(run["interference"]["interfered"] for run in earlier)
    assert earlier == [] or "other processes used 0.90 of the 2 cores" in earlier[0]["interference"]["reasons"][0]
    found = interference_windows("inprocess", {"offline": figures})
    assert list(found) == [f"inprocess {kept}"]  # the replaced attempt is kept in the record, not summarised


@needs_loadgen
def test_a_busy_process_during_a_run_shows_in_its_window(context: ServeContext) -> None:
    quiet = _runner(context).run("quiet", OFFLINE, BatcherConfig(8, 0.0))["interference"]
    # Another process, not one of ours (a child's CPU would count as ours): the shell leaves it to init and exits.
    started = subprocess.run(["sh", "-c", f"'{sys.executable}' -c 'while True: pass' >/dev/null 2>&1 & echo $!"],
                             capture_output=True, text=True, check=True)
    busy = int(started.stdout)
    try:
        time.sleep(0.3)
        section = _runner(context).run("busy", dataclasses.replace(OFFLINE, min_duration_s=1.0),
                                       BatcherConfig(8, 0.0))["interference"]
    finally:
        os.kill(busy, signal.SIGKILL)
    assert section["cpu_measured"] and section["others_cores"] >= 0.5 and section["interfered"]
    assert section["others_cores"] > quiet["others_cores"] + 0.4


def test_the_windows_are_every_kept_runs_named_by_its_log_folder() -> None:
    def run(name: str, interfered: bool) -> dict:
        return {"log_dir": f"loadgen/cpu/inprocess/{name}", "interference": {"interfered": interfered}}

    result = {"single_stream": {**run("single_stream_retry", False), "earlier": [run("single_stream", True)]},
              "search": {"points": [run("server_100qps", False), {**run("server_200qps_attempt2", False),
                                                                 "remeasured": [run("server_200qps", True)]}]},
              "overload": run("overload_400qps", True), "accuracy": {"log_dir": "loadgen/cpu/inprocess/accuracy"}}
    assert set(interference_windows("inprocess", result)) == {
        "inprocess single_stream_retry", "inprocess single_stream", "inprocess server_100qps",
        "inprocess server_200qps_attempt2", "inprocess overload_400qps"}
