"""Atomic file writes and the results-directory lock: nothing in ``results/`` is ever half-written."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tweetbench.errors import ResultsError


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def locked(directory: Path, name: str = ".tweetbench.lock") -> Iterator[None]:
    """Hold an exclusive advisory lock on ``directory`` (for updating shared files such as summary.md)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / name, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_writable_dir(directory: Path) -> Path:
    """Create ``directory`` if needed and prove it can be written, or raise a one-line ``ResultsError``."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ResultsError(f"output path {directory} exists and is not a directory: choose another --out") from None
    except OSError as exc:
        raise ResultsError(f"cannot create output directory {directory}: {exc.strerror}; choose another --out") \
            from None
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ResultsError(f"cannot write to output directory {directory}: {exc.strerror}; "
                           "choose another --out") from None
    return directory
