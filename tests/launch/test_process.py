"""One device worker process, for real: its exit code and log, the timeout that kills its whole process group,
and how its end is put in words."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tweetbench.config import WORKLOADS, DataSource, DeviceJob, get_preset
from tweetbench.faults import FAULT_ENV
from tweetbench.launch.job import job_to_dict
from tweetbench.launch.process import ERROR_TAIL_LINES, Worker, describe_exit, log_tail


def _job_file(tmp_path: Path) -> Path:
    job = DeviceJob("cpu", WORKLOADS["tiny"], get_preset("smoke"), DataSource(), "benchmark")
    path = tmp_path / "cpu.job.json"
    path.write_text(json.dumps(job_to_dict(job, run_id="r", run_dir=tmp_path, result_path=tmp_path / "cpu.json",
                                           command=["tweetbench", "run"])))
    return path


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(("code", "words"), [
    (0, "worker exited with code 0"),
    (3, "worker exited with code 3"),
    (-signal.SIGKILL, "worker died from SIGKILL (killed: out of memory?)"),
    (-signal.SIGABRT, "worker died from SIGABRT"),
    (-200, "worker died from 200"),
])
def test_an_exit_is_put_in_words_with_the_signal_by_name(code: int, words: str) -> None:
    assert describe_exit(code) == words


def test_the_log_tail_is_its_last_non_blank_lines(tmp_path: Path) -> None:
    log = tmp_path / "cpu.log"
    assert log_tail(log) == []  # no log at all: nothing to show, no error
    log.write_bytes(b"".join(b"line %d\n\n   \n" % i for i in range(ERROR_TAIL_LINES + 5)) + b"caf\xe9\n")
    tail = log_tail(log)
    assert len(tail) == ERROR_TAIL_LINES
    assert tail[0] == "line 6" and tail[-2:] == [f"line {ERROR_TAIL_LINES + 4}", "caf\ufffd"]
    assert log_tail(log, 2) == tail[-2:]


@pytest.mark.slow
def test_a_worker_that_fails_leaves_its_code_and_its_error_in_the_log(tmp_path: Path) -> None:
    events: list[dict] = []
    worker = Worker(tmp_path / "no-such.job.json", tmp_path / "cpu.log", events.append)
    assert worker.wait(timeout=120) == 1
    assert log_tail(tmp_path / "cpu.log")[-1].startswith("FileNotFoundError:")
    assert events == [] and not _group_alive(worker.process.pid)


def test_a_worker_past_its_timeout_is_killed_with_its_process_group(tmp_path: Path) -> None:
    """The worker hangs on purpose (or is still starting): ``wait`` returns None and nothing of it is left."""
    worker = Worker(_job_file(tmp_path), tmp_path / "cpu.log", lambda event: None,
                    env={**os.environ, FAULT_ENV: "cpu:hang"})
    assert worker.process.pid == os.getpgid(worker.process.pid)  # a session, so a group, of its own
    assert worker.wait(timeout=1.0) is None
    assert worker.process.returncode == -signal.SIGKILL
    assert not _group_alive(worker.process.pid)
    worker.kill()  # a second kill of a group that is gone is no error
