"""Reading a file's bytes or failing in one line, atomic file writes and the results-directory lock: nothing in
``results/`` is ever half-written."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tweetbench.errors import ResultsError, TweetbenchError


def _process_umask() -> int:
    # Read once at import, while no other thread can be creating files with the umask set to 0.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_process_umask()


def read_bytes(path: Path, what: str, error: type[TweetbenchError] = ResultsError) -> bytes:
    """The bytes of ``path``, or ``error`` (a ``ResultsError`` unless told) in one line: a directory where
    ``what`` (e.g. "a result file") was expected, a file that may not be read, or another ``OSError``."""
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise error(f"{path} is a directory, not {what}") from None
    except PermissionError:
        raise error(f"cannot read {path}: permission denied; fix its permissions") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}; check the file") from None


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (or bytes, e.g. a PNG) to a temporary file beside ``path``, flush it to disk,
    then rename it over ``path``.

    A reader sees the old file or the new one, never a part of either. An ``OSError`` (a read-only or
    full disk) becomes a one-line ``ResultsError``.
    """
    try:
        _write_atomic(path, text)
    except OSError as exc:
        raise ResultsError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_atomic(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp makes the file private (0600); results are ordinary files, readable as the umask allows.
            os.fchmod(handle.fileno(), _FILE_MODE)
            handle.write(data)
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
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / name, "a")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ResultsError(f"cannot lock {directory}: {exc.strerror or exc}") from None
    with handle:
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
