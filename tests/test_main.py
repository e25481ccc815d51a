"""``python -m tweetbench``: the CLI in a fresh interpreter, its exit code passed through to the shell."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tweetbench import __version__


def _module(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tweetbench", *argv], capture_output=True, text=True, timeout=120)


def test_python_dash_m_runs_the_cli() -> None:
    done = _module("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"tweetbench {__version__}\n", "")


def test_python_dash_m_exits_with_the_clis_code_and_its_one_line(
        assert_one_line_error: Callable[[str, int, int, str], None]) -> None:
    done = _module("bench")
    assert done.stdout == ""
    assert_one_line_error(done.stderr, done.returncode, 2, "invalid choice: 'bench'")
