"""One device in its own worker process, for real: where its files go, and the ``failed`` result written in place
of a worker that timed out or died; an interrupted device leaves no result at all."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from tweetbench.config import WORKLOADS, DataSource, get_preset
from tweetbench.devices import DeviceSpec
from tweetbench.faults import FAULT_ENV
from tweetbench.launch import suite
from tweetbench.launch.interrupt import Interrupt
from tweetbench.launch.options import EventFn, RunOptions
from tweetbench.records import dumps, read_result

CPU = DeviceSpec("cpu")


def _options(tmp_path: Path, **changes: object) -> RunOptions:
    options = RunOptions(devices=(CPU,), workload=WORKLOADS["tiny"], preset=get_preset("smoke"), out=tmp_path,
                         command=("tweetbench", "run", "--devices", "cpu"), data=DataSource())
    return dataclasses.replace(options, **changes)  # type: ignore[arg-type]


def _events() -> tuple[list[tuple[str, dict]], EventFn]:
    seen: list[tuple[str, dict]] = []
    return seen, lambda device, event: seen.append((device, event))


def test_a_devices_files_lie_in_its_run_directory(tmp_path: Path) -> None:
    files = suite.DeviceFiles.of(tmp_path, DeviceSpec("gpu", 1))
    assert files.result == suite.result_path(tmp_path, DeviceSpec("gpu", 1))
    assert files.result.parent == tmp_path and files.relative_result == files.result.name
    assert (files.job.parent, files.log.parent) == (tmp_path / "work", tmp_path / "logs")
    assert len({files.result.stem, files.job.name.split(".")[0], files.log.stem}) == 1  # all named after the device
    files.make_dirs()
    files.make_dirs()  # again: no error
    assert (tmp_path / "work").is_dir() and (tmp_path / "logs").is_dir()


def test_a_failed_result_is_a_valid_record_with_the_reason_and_the_errors_last_lines(tmp_path: Path) -> None:
    options = _options(tmp_path, scenario="convergence")
    failed = suite.failed_result(options, CPU, "20260101-000000-abcdef", "worker died from SIGKILL", ["a", "b"])
    record = failed.to_dict()
    assert (failed.status, failed.device, record["reason"], record["error_tail"]) == (
        "failed", "cpu", "worker died from SIGKILL", ["a", "b"])
    assert (record["run_id"], record["scenario"], record["command"]) == (
        "20260101-000000-abcdef", "convergence", list(options.command))
    assert record["workload"]["name"] == WORKLOADS["tiny"].name
    (tmp_path / "cpu.json").write_text(dumps(failed))
    assert read_result(tmp_path / "cpu.json").to_dict() == record


def test_a_worker_past_its_timeout_leaves_a_failed_result_in_its_place(tmp_path: Path) -> None:
    seen, on_event = _events()
    options = _options(tmp_path, timeout_s=1.0)
    result = suite.run_device_process(options, CPU, "r1", tmp_path, on_event,
                                      env={**os.environ, FAULT_ENV: "cpu:hang"})
    assert result is not None and result.status == "failed"
    assert result.to_dict()["reason"].startswith("timed out after 1 s (raise it with --timeout)")
    assert read_result(tmp_path / "cpu.json").to_dict() == result.to_dict()
    assert (tmp_path / "logs" / "cpu.log").is_file() and seen == []


def test_a_device_interrupted_while_its_worker_starts_has_no_result(tmp_path: Path) -> None:
    interrupt = Interrupt()
    interrupt.count = 1  # the signal came before the worker started (no handler installed here)
    seen, on_event = _events()
    assert suite.run_device_process(_options(tmp_path), CPU, "r1", tmp_path, on_event, interrupt) is None
    assert interrupt.worker is None and not (tmp_path / "cpu.json").exists() and seen == []


@pytest.mark.slow
def test_a_worker_that_crashes_leaves_a_failed_result_naming_the_signal_and_its_last_words(tmp_path: Path) -> None:
    seen, on_event = _events()
    result = suite.run_device_process(_options(tmp_path), CPU, "r1", tmp_path, on_event,
                                      env={**os.environ, FAULT_ENV: "cpu:crash"})
    assert result is not None and result.status == "failed"
    record = result.to_dict()
    assert record["reason"] == "worker died from SIGABRT: tweetbench test fault: crashing on purpose"
    assert record["error_tail"][-1] == "tweetbench test fault: crashing on purpose"
    assert read_result(tmp_path / "cpu.json").to_dict() == record
