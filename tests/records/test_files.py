"""Reading a file's bytes or failing in one line, with the error class of the caller's layer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tweetbench.errors import DataError, ResultsError
from tweetbench.records.files import read_bytes


def one_line(excinfo: pytest.ExceptionInfo) -> str:
    message = excinfo.value.message
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_readable_file_gives_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b"\x00\xff{}")
    assert read_bytes(path, "a result file") == b"\x00\xff{}"


def test_a_directory_or_a_missing_file_is_a_results_error_unless_told(tmp_path: Path) -> None:
    with pytest.raises(ResultsError) as excinfo:
        read_bytes(tmp_path, "a result file")
    assert one_line(excinfo) == f"{tmp_path} is a directory, not a result file"
    with pytest.raises(DataError) as excinfo:
        read_bytes(tmp_path / "gone.csv", "a .csv file", DataError)
    assert one_line(excinfo) == f"cannot read {tmp_path / 'gone.csv'}: No such file or directory; check the file"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_that_may_not_be_read_says_so(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{}")
    path.chmod(0)
    try:
        with pytest.raises(ResultsError) as excinfo:
            read_bytes(path, "a result file")
        assert "permission denied; fix its permissions" in one_line(excinfo)
    finally:
        path.chmod(0o600)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc")
def test_a_read_that_fails_midway_is_one_line() -> None:
    # /proc/self/mem is a regular file whose read fails with EIO, even for root.
    with pytest.raises(ResultsError) as excinfo:
        read_bytes(Path("/proc/self/mem"), "a result file")
    assert one_line(excinfo).startswith("cannot read /proc/self/mem: ")
