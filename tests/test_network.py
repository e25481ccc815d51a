"""tweetbench makes no network request: the CLI runs with Python's sockets blocked, in every process.

A ``sitecustomize.py`` on ``PYTHONPATH`` replaces ``socket.socket.connect`` (and ``connect_ex``) for
internet sockets, ``socket.create_connection`` and ``socket.getaddrinfo`` with functions that
record the attempt to a file and raise. Worker processes inherit ``PYTHONPATH``, so every process of
a run is covered; each one also records that the blocker loaded, which the test counts.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BLOCKER = '''
import os
import socket

_LOG = os.environ["TWEETBENCH_NETLOG"]


def _record(line):
    with open(_LOG, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {line}\\n")


def _refuse(name, target):
    _record(f"BLOCKED {name} {target!r}")
    raise OSError(f"network access blocked by the test suite: {name} {target!r}")


_INET = (socket.AF_INET, socket.AF_INET6)
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def connect(self, address):
    if self.family in _INET:
        _refuse("socket.connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in _INET:
        _refuse("socket.connect_ex", address)
    return _connect_ex(self, address)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.create_connection = lambda address, *a, **k: _refuse("create_connection", address)
socket.getaddrinfo = lambda host, *a, **k: _refuse("getaddrinfo", host)
socket.gethostbyname = lambda host: _refuse("gethostbyname", host)
_record("loaded")
'''


@pytest.fixture
def offline(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose Python processes cannot open an internet connection, and the log of attempts."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    log = tmp_path / "network.log"
    log.touch()
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "TWEETBENCH_NETLOG": str(log)}, log


def attempts(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if " BLOCKED " in line]


def loaded_pids(log: Path) -> set[str]:
    return {line.split()[0] for line in log.read_text().splitlines() if line.endswith(" loaded")}


def python(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(importlib.util.find_spec("torch_xla") is None,
                    reason="without torch_xla, Lightning never asks the TPU metadata server")
def test_the_blocker_catches_lightnings_tpu_query_when_unguarded(offline, tmp_path: Path) -> None:
    """The control: without tpu_guard, Lightning's TPU count goes to the network, and the blocker sees it."""
    env, log = offline
    proc = python(["-c", "from lightning_fabric.accelerators.xla import XLAAccelerator\n"
                         "try:\n    XLAAccelerator.auto_device_count()\nexcept Exception:\n    pass\n"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert attempts(log), "the blocker did not see Lightning's request: this test would prove nothing"


def test_a_whole_run_and_the_device_list_make_no_network_request(offline, tmp_path: Path) -> None:
    env, log = offline
    out = tmp_path / "results"
    run = python(["-m", "tweetbench", "run", "--devices", "cpu,gpu,tpu", "--preset", "smoke", "--workload", "tiny",
                  "--out", str(out)], env, tmp_path)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert attempts(log) == []
    # The parent and one worker per device, each with the blocker in place.
    assert len(loaded_pids(log)) >= 4
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert '"status": "ok"' in (run_dir / "cpu.json").read_text()
    # Everything it wrote is under --out (its working directory is tmp_path).
    assert {p.name for p in tmp_path.iterdir()} == {"site", "network.log", "results"}

    devices = python(["-m", "tweetbench", "devices"], env, tmp_path)
    assert devices.returncode == 0 and "Traceback" not in devices.stderr, devices.stderr[-3000:]
    assert attempts(log) == []
