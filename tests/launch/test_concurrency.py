"""Two runs writing into one results directory at once: unique run ids, a summary updated under a lock."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tweetbench.records import read_result
from tweetbench.records.files import locked, write_atomic
from tweetbench.records.run import RUN_ID_RE, new_run_dir


def test_run_ids_are_unique_when_made_at_the_same_moment(tmp_path: Path) -> None:
    made: list[str] = []
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        made.extend(new_run_dir(tmp_path)[0] for _ in range(25))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == len(set(made)) == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(made)
    assert all(RUN_ID_RE.fullmatch(run_id) for run_id in made)


def test_a_taken_run_id_is_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same random suffix twice in one second: the second run gets a fresh id, not the first's directory."""
    suffixes = iter(["aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(suffixes))
    monkeypatch.setattr(time, "strftime", lambda fmt: "20260101-000000")
    first, _ = new_run_dir(tmp_path)
    second, _ = new_run_dir(tmp_path)
    assert (first, second) == ("20260101-000000-aaaaaa", "20260101-000000-bbbbbb")


def test_the_results_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    """flock on separate opens of the lock file: the second holder waits until the first lets go."""
    events: list[str] = []
    first_in = threading.Event()

    def hold() -> None:
        with locked(tmp_path):
            events.append("first in")
            first_in.set()
            time.sleep(0.3)
            events.append("first out")

    thread = threading.Thread(target=hold)
    thread.start()
    first_in.wait(5)
    with locked(tmp_path):
        events.append("second in")
    thread.join()
    assert events == ["first in", "first out", "second in"]


def test_readers_never_see_a_half_written_file(tmp_path: Path) -> None:
    """While one thread rewrites a file over and over, another only ever reads a whole version of it."""
    path = tmp_path / "summary.md"
    versions = [f"version {i}\n" + "x" * 200_000 + "\nend\n" for i in range(2)]
    write_atomic(path, versions[0])
    stop = threading.Event()

    def rewrite() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            write_atomic(path, versions[i % 2])

    thread = threading.Thread(target=rewrite)
    thread.start()
    try:
        seen = {path.read_text() for _ in range(300)}
    finally:
        stop.set()
        thread.join()
    assert seen <= set(versions)
    assert not list(tmp_path.glob("*.tmp"))
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.slow
def test_two_runs_into_one_results_directory(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "tweetbench", "run", "--devices", "cpu", "--preset", "smoke",
            "--workload", "tiny", "--no-profile", "--out", str(out)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, stderr) in zip(procs, outputs):
        assert proc.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]

    run_dirs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(run_dirs) == 2
    metas = [json.loads((d / "run.json").read_text()) for d in run_dirs]
    assert {m["run_id"] for m in metas} == {d.name for d in run_dirs}
    assert all(m["status"] == "complete" for m in metas)
    for run_dir in run_dirs:
        assert read_result(run_dir / "cpu.json").status == "ok"
        assert (run_dir / "report.md").read_text().startswith(f"# tweetbench run {run_dir.name}")

    # Whichever run took the lock last wrote the summary after the other had finished (each marks
    # itself complete before it takes the lock): it names itself the latest, the other complete and earlier.
    summary = (out / "summary.md").read_text()
    (last,) = [m for m in metas if f"Latest run: [{m['run_id']}]" in summary]
    (other,) = [m for m in metas if m is not last]
    assert f"| [{other['run_id']}]({other['run_id']}/report.md) | complete |" in summary
    assert not list(out.rglob("*.tmp"))
