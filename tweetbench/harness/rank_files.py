"""The files each rank of a data-parallel run leaves for the process that started it.

Named ``<prefix>.rank<R>.<what>.json`` (``rank_file``): a rank's error (``rank_reporting``), its
whereabouts, rewritten every second while it trains (``RankWatch``), and, under a spawned strategy (XLA),
its measured figures (``RankExport``, read back by ``read_rank_exports``). The parent reads the first two
(``launch/failures.py``) to name the rank that failed or hung.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from tweetbench.config import ParallelPlan
from tweetbench.errors import ResultsError, one_line
from tweetbench.harness.ranks import RankInfo
from tweetbench.records.files import write_atomic

# Set by ``rank_reporting`` in the worker (and inherited by the ranks Lightning starts from it):
# where this job's ranks write their error and whereabouts files, as ``<work dir>/<job key>``.
REPORT_ENV = "TWEETBENCH_RANK_REPORTS"
WATCH_INTERVAL_S = 1.0


def rank_file(prefix: str, rank: int, what: str) -> Path:
    """Where rank ``rank`` of the job at ``prefix`` writes its ``what`` (error, state, or exported figures)."""
    return Path(f"{prefix}.rank{rank}.{what}.json")


@contextlib.contextmanager
def rank_reporting(work_dir: Path, key: str, plan: ParallelPlan | None) -> Iterator[None]:
    """Around one rank's whole job: tell the rank where to report (``RankWatch``), and write its
    exception there before it propagates, so that the parent can name the rank that failed.

    Every rank writes its own files; the earliest error is the cause (the others are usually the
    broken connections it left behind).
    """
    if plan is None:
        yield
        return
    prefix = str(work_dir / key)
    os.environ[REPORT_ENV] = prefix
    try:
        yield
    except BaseException as exc:
        info = RankInfo.current(plan)
        record = {"rank": info.rank, "host": info.host, "at": time.time(), "error": one_line(exc),
                  "traceback": traceback.format_exc().splitlines()[-12:]}
        with contextlib.suppress(OSError, ResultsError):
            write_atomic(rank_file(prefix, info.rank, "error"), json.dumps(record))
        raise


class RankWatch:
    """This rank's whereabouts (phase, step, whether it waits in a collective), written every second
    by a background thread while the rank trains, so that a rank that hangs can be named.

    Writes nothing outside a worker (``REPORT_ENV`` unset, e.g. under torchrun, which reports
    hung ranks itself through its own timeouts).
    """

    def __init__(self, rank: int, environ: Mapping[str, str] | None = None) -> None:
        prefix = (os.environ if environ is None else environ).get(REPORT_ENV)
        self.path = None if prefix is None else rank_file(prefix, rank, "state")
        self.rank, self.phase, self.step = rank, "setup", 0
        self._waiting = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tweetbench-rank-watch", daemon=True)

    def enter_collective(self) -> None:
        with self._lock:
            self._waiting += 1

    def leave_collective(self) -> None:
        with self._lock:
            self._waiting -= 1

    def on_step(self, done: int) -> None:
        self.step = done

    def state(self) -> dict[str, Any]:
        with self._lock:
            waiting = self._waiting > 0
        return {"rank": self.rank, "phase": self.phase, "step": self.step, "in_collective": waiting,
                "at": time.time()}

    def write(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state()), encoding="utf-8")
            tmp.replace(self.path)

    def _run(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            self.write()

    def __enter__(self) -> RankWatch:
        self.write()
        if self.path is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.phase = "done" if exc[0] is None else "failed"
        self.write()


class RankExport(pl.Callback):
    """Under a spawned strategy (XLA), each rank's figures, written to a file when its training ends.

    Lightning's launcher starts the ranks inside ``fit`` (processes, or threads on a TPU with
    several cores per chip) and hands back only rank 0's return value; so every rank writes what it
    measured as ``<prefix>.rank<R>.<what>.json`` and the launching process reads them all after
    ``fit`` (``read_rank_exports``). ``collect`` is called in the rank with its trainer and module.
    """

    def __init__(self, prefix: str, what: str,
                 collect: Callable[[pl.Trainer, pl.LightningModule], dict[str, Any]]) -> None:
        self.prefix, self.what, self.collect = prefix, what, collect

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        figures = {"rank": trainer.global_rank, "local_rank": trainer.local_rank, "node_rank": trainer.node_rank,
                   "host": platform.node(), "pid": os.getpid(), "torch_threads": torch.get_num_threads(),
                   **self.collect(trainer, pl_module)}
        write_atomic(rank_file(self.prefix, trainer.global_rank, self.what), json.dumps(figures))


def read_rank_exports(prefix: str, what: str, world_size: int) -> list[dict[str, Any]]:
    """Every rank's ``what`` figures (``RankExport``), in rank order; an error names the ranks that
    wrote none (they failed before the end of training, or were never started)."""
    found: dict[int, dict[str, Any]] = {}
    for rank in range(world_size):
        path = rank_file(prefix, rank, what)
        with contextlib.suppress(OSError, ValueError):
            found[rank] = json.loads(path.read_text(encoding="utf-8"))
            path.unlink()
    missing = [rank for rank in range(world_size) if rank not in found]
    if missing:
        raise RuntimeError(f"rank(s) {', '.join(map(str, missing))} of {world_size} wrote no {what} figures: "
                           "they did not finish training (see the log)")
    return [found[rank] for rank in range(world_size)]
