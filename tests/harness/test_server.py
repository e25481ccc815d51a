"""The LitServe server process: loopback only, an OS-chosen port, 4xx for malformed requests while it keeps
serving, and no process left however it is stopped (its caller ending normally, raising, or killed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from tweetbench.config import WORKLOADS
from tweetbench.harness.server import PGID_FILE, ServerProcess, group_processes, listening_addresses
from tweetbench.scenarios.serve_http import APP_MODULE, PREDICT_PATH, _post, malformed_check
from tweetbench.workload.model import build_model

pytest.importorskip("litserve")

TINY = WORKLOADS["tiny"]
CLASSES = 4


def _spec(tmp_path: Path) -> dict:
    torch.save(build_model(TINY, CLASSES).state_dict(), tmp_path / "model.pt")
    return {"workload": TINY.to_dict(), "num_classes": CLASSES, "vocab": TINY.vocab_size,
            "weights": str(tmp_path / "model.pt"), "accelerator": "cpu", "max_batch_size": 8,
            "batch_timeout_s": 0.002, "threads": 1}


def _good() -> bytes:
    return json.dumps({"tokens": [5] * TINY.seq_len}).encode()


@pytest.mark.slow
def test_the_server_serves_on_loopback_refuses_malformed_requests_and_leaves_nothing(tmp_path: Path) -> None:
    with ServerProcess(APP_MODULE, _spec(tmp_path), tmp_path) as server:
        pgid = server.process.pid
        assert (tmp_path / PGID_FILE).read_text().split()[0] == str(pgid)  # named while it may be alive
        addresses = listening_addresses(pgid)
        assert addresses and all(a.startswith("127.0.0.1:") for a in addresses)
        assert f"127.0.0.1:{server.port}" in addresses
        status, answer = _post(server.url + PREDICT_PATH, _good())
        assert status == 200 and 0 <= json.loads(answer)["class"] < CLASSES
        check = malformed_check(server.url + PREDICT_PATH, _good())
        assert all(400 <= s < 500 for s in check["statuses"]) and check["after_status"] == 200, check
        assert check["problem"] == ""
    assert server.leftover == [] and group_processes(pgid) == []
    assert not (tmp_path / PGID_FILE).exists()


def test_a_check_that_sees_a_5xx_fails() -> None:
    import tweetbench.scenarios.serve_http as http

    original = http._post
    http._post = lambda url, body, timeout=30.0: (500, b"{}")
    try:
        check = malformed_check("http://127.0.0.1:1/predict", _good())
    finally:
        http._post = original
    assert "each must be a 4xx" in check["problem"]


@pytest.mark.slow
def test_a_caller_that_raises_still_stops_the_server(tmp_path: Path) -> None:
    server = ServerProcess(APP_MODULE, _spec(tmp_path), tmp_path)
    with pytest.raises(RuntimeError, match="boom"), server:
        pgid = server.process.pid
        raise RuntimeError("boom")
    assert group_processes(pgid) == []


CALLER = """
import sys, time
from pathlib import Path
from tweetbench.harness.server import ServerProcess
spec = {spec!r}
with ServerProcess({module!r}, spec, Path({work!r})) as server:
    print(server.process.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_caller_ended_by_a_signal_leaves_no_server_process(tmp_path: Path, how: int) -> None:
    code = CALLER.format(spec=_spec(tmp_path), module=APP_MODULE, work=str(tmp_path))
    caller = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pgid = int(caller.stdout.readline())
        assert group_processes(pgid)
        os.kill(caller.pid, how)
        caller.wait(timeout=60)
        deadline = time.time() + 30
        while group_processes(pgid) and time.time() < deadline:
            time.sleep(0.2)
        assert group_processes(pgid) == [], [p.cmdline() for p in group_processes(pgid)]
    finally:
        if caller.poll() is None:
            caller.kill()
    assert not psutil.pid_exists(pgid) or psutil.Process(pgid).status() == psutil.STATUS_ZOMBIE


def test_litserve_is_unavailable_with_its_reason_on_xla_and_available_on_cpu_and_gpu() -> None:
    from tweetbench.harness.litserve_sut import litserve_problem

    assert litserve_problem("cpu") == "" and litserve_problem("gpu") == ""
    for kind in ("xla-cpu", "tpu"):
        assert "has no XLA device" in litserve_problem(kind) and kind in litserve_problem(kind)
