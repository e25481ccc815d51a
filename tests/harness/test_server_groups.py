"""A server group its killed caller left running: the launcher stops it, and only it (no LitServe needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from tweetbench.harness.server import PGID_FILE, group_processes, stop_groups_left


def _group(work: Path, started_offset_s: float = 0.0, *, leader_exits: bool = False) -> int:
    """A process group of its own (a shell and its sleeping child), named in ``work/server.pgid`` with its
    leader's start time moved by ``started_offset_s``; with ``leader_exits`` the shell ends (and is reaped) at once,
    leaving its child in the group, as a server's main process that died before its workers."""
    leader = subprocess.Popen(["sh", "-c", "sleep 60 &" if leader_exits else "sleep 60 & wait"],
                              start_new_session=True)
    started = psutil.Process(leader.pid).create_time() + started_offset_s
    if leader_exits:
        leader.wait()
    time.sleep(0.2)
    work.mkdir(parents=True)
    (work / PGID_FILE).write_text(f"{leader.pid} {started}")
    return leader.pid


def test_the_launcher_stops_a_group_its_worker_left_and_leaves_a_reused_id_alone(tmp_path: Path) -> None:
    left = _group(tmp_path / "litserve-cpu")
    orphaned = _group(tmp_path / "litserve-cpu-2", leader_exits=True)
    # The id given again: its leader alive with a later start time than the one recorded an hour before.
    reused = _group(tmp_path / "litserve-gpu", started_offset_s=-3600)
    try:
        assert len(group_processes(left)) == 2 and len(group_processes(orphaned)) == 1
        assert stop_groups_left(tmp_path, grace_s=2) == [left, orphaned]
        assert group_processes(left) == group_processes(orphaned) == []
        assert not (tmp_path / "litserve-cpu" / PGID_FILE).exists()
        assert len(group_processes(reused)) == 2
        assert stop_groups_left(tmp_path) == []  # nothing named any more
    finally:
        os.killpg(reused, signal.SIGKILL)
