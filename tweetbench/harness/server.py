"""A server process on 127.0.0.1, on a port the OS chose, that is always stopped: on success, failure, timeout,
SIGINT and SIGTERM, with no process of it left.

The server runs in a process group of its own (``start_new_session``), so that stopping it reaches every process
it started (LitServe's inference workers and HTTP servers), and never the caller's. Its main process is asked by
the kernel to receive SIGTERM if the process that started it dies (``PR_SET_PDEATHSIG``), and its SIGTERM handler
ends the whole group: so a caller killed outright (the suite's timeout, a SIGKILL) leaves no orphan either.
``stop`` sends SIGTERM to the group, waits ``grace_s``, then SIGKILLs whatever is left and checks that nothing is.

A caller that is killed (the launcher SIGKILLs a worker on Ctrl-C or a timeout) cannot wait for its server's group
to end. So the group is also named in a file (``server.pgid`` in the server's work folder, with the leader's start
time) until ``stop`` has seen it empty, and the launcher, once the worker has ended, stops any group so named
(``stop_groups_left``): tweetbench never returns while a server it started is still running.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tweetbench.records.files import write_atomic

LOOPBACK = "127.0.0.1"
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")
PR_SET_PDEATHSIG = 1
PGID_FILE = "server.pgid"  # "<pgid> <the leader's start time>", while the group may be alive


class ServerStartError(Exception):
    """The server did not become ready: it died, timed out, or listened beyond loopback."""


def free_loopback_port() -> int:
    """A port the OS picks on 127.0.0.1 (LitServe refuses port 0, so the OS's choice is read and handed over;
    the window between closing this socket and the server binding it is the one race left)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover  (runs in the child between fork and exec)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def group_processes(pgid: int) -> list[psutil.Process]:
    """Every live process of the process group ``pgid``."""
    found = []
    for process in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def listening_addresses(pgid: int) -> list[str]:
    """``ip:port`` of every socket the group's processes listen on."""
    addresses = set()
    for process in group_processes(pgid):
        with contextlib.suppress(psutil.Error):
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    addresses.add(f"{conn.laddr.ip}:{conn.laddr.port}")
    return sorted(addresses)


@dataclass
class ServerProcess:
    """``python -m <module> <spec.json> <port>``, started and stopped as above; ``url`` once ready."""

    module: str
    spec: dict[str, Any]
    work_dir: Path
    ready_path: str = "/health"
    startup_timeout_s: float = 180.0
    grace_s: float = 10.0
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    timeline: dict[str, float] = field(default_factory=dict)  # time.time() of: started, ready
    leftover: list[int] = field(default_factory=list)  # pids still alive after stop (must stay empty)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "server.log"

    def start(self) -> ServerProcess:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        spec_path = self.work_dir / "server-spec.json"
        write_atomic(spec_path, json.dumps(self.spec))
        self.port = free_loopback_port()
        self.timeline["started"] = time.time()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, str(spec_path), str(self.port)], stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
                env={**os.environ, **self.env})
        with contextlib.suppress(psutil.Error):
            started = psutil.Process(self.process.pid).create_time()
            write_atomic(self.work_dir / PGID_FILE, f"{self.process.pid} {started}")
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise ServerStartError(f"the server exited with code {self.process and self.process.returncode} "
                                       f"before it was ready: {self.log_tail(1)}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as answer:
                    if answer.status == 200:
                        self.timeline["ready"] = time.time()
                        self._check_loopback()
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        raise ServerStartError(f"the server was not ready after {self.startup_timeout_s:.0f} s: {self.log_tail(1)}")

    def _check_loopback(self) -> None:
        assert self.process is not None
        outside = [a for a in listening_addresses(self.process.pid) if a.rsplit(":", 1)[0] not in LOOPBACK_ADDRESSES]
        if outside:
            raise ServerStartError(f"the server listens beyond loopback, on {', '.join(outside)}: stopped")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:]) if text else "(no output)"

    def stop(self) -> list[int]:
        """SIGTERM the server's group, SIGKILL what is left after ``grace_s``; the pids still alive (none)."""
        if self.process is None:
            return []
        pgid = self.process.pid
        # The leader is this process's child, unreaped until the wait below: the group's id is still ours.
        _end_group(pgid, None, self.grace_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        time.sleep(0.1)
        self.leftover = [p.pid for p in group_processes(pgid)]
        self.timeline["stopped"] = time.time()
        if not self.leftover:
            (self.work_dir / PGID_FILE).unlink(missing_ok=True)
        return self.leftover

    def __enter__(self) -> ServerProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_groups_left(root: Path, grace_s: float = 10.0) -> list[int]:
    """Stop every server group named in a ``server.pgid`` under ``root`` (a run's work folder) that is still
    alive: SIGTERM, ``grace_s``, SIGKILL, then wait until it is gone. A group id the OS has since given to another
    process (its leader alive with another start time) is left alone. Returns the groups it stopped."""
    stopped = []
    for path in sorted(root.glob(f"*/{PGID_FILE}")):
        try:
            pgid_text, started_text = path.read_text(encoding="utf-8").split()
            pgid, started = int(pgid_text), float(started_text)
        except (OSError, ValueError):
            continue
        if _end_group(pgid, started, grace_s):
            stopped.append(pgid)
        path.unlink(missing_ok=True)
    return stopped


def _alive(pgid: int, started: float | None) -> list[psutil.Process]:
    """The live processes of group ``pgid``, if it is still the group whose leader started at ``started`` (None:
    the caller knows it is). An id is not given to another process while a group of it has members, so a leader
    that is gone leaves its members ours; a leader alive with another start time means the id was given again."""
    if started is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            if abs(psutil.Process(pgid).create_time() - started) > 0.01:  # create times are rounded to the tick
                return []
    return group_processes(pgid)


def _end_group(pgid: int, started: float | None, grace_s: float) -> bool:
    """SIGTERM the group, wait up to ``grace_s`` for it to end, then SIGKILL and wait up to 5 s; False when
    nothing of it was alive (or the id is another's), so that nothing was sent."""
    if not _alive(pgid, started):
        return False
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while _alive(pgid, started) and time.monotonic() < deadline:
            time.sleep(0.1)
    return True


def end_group_on_sigterm(grace_s: float = 5.0, signals: Sequence[int] = (signal.SIGTERM,)) -> None:
    """In the server's main process: on SIGTERM, ask for a graceful stop (KeyboardInterrupt, which LitServe's
    ``run`` handles) and SIGKILL the whole group ``grace_s`` later if it has not ended by then."""
    def handle(signum: int, frame: Any) -> None:
        if os.fork() == 0:  # pragma: no cover  (a reaper that outlives a stuck graceful stop)
            time.sleep(grace_s)
            os.killpg(os.getpgid(0), signal.SIGKILL)
            os._exit(0)
        raise KeyboardInterrupt

    for sig in signals:
        signal.signal(sig, handle)
