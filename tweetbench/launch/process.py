"""One device worker process: started with its job file, its events read, its log kept, killed on timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tweetbench.harness.progress import parse_event

ERROR_TAIL_LINES = 20


class Worker:
    """One running device worker: its process, its event reader and its log."""

    def __init__(self, job_path: Path, log_path: Path, on_event: Callable[[dict[str, Any]], None],
                 env: Mapping[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in wait())
        # A session of its own: the ranks Lightning starts for a data-parallel job join its process
        # group, so kill() ends them all.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tweetbench.launch.worker", str(job_path)],
            stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True,
            env=None if env is None else dict(env),
        )
        self._reader = threading.Thread(target=self._read, args=(on_event,), daemon=True)
        self._reader.start()

    def _read(self, on_event: Callable[[dict[str, Any]], None]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = parse_event(line.rstrip("\n"))
            if event is not None:
                on_event(event)
            else:
                self._log.write(line)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it was still running at the timeout (it is then killed)."""
        try:
            code: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
            code = None
        else:
            self.kill()  # whatever it left behind (the other ranks of a failed data-parallel job)
        self._reader.join(timeout=5)
        self._log.close()
        return code


def describe_exit(code: int) -> str:
    """How a worker process ended, in words (a signal by name, with a hint for SIGKILL)."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
        return f"worker died from {name}{hint}"
    return f"worker exited with code {code}"


def log_tail(path: Path, lines: int = ERROR_TAIL_LINES) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]
