"""User-facing errors: each one carries a one-line message and an exit code."""

from __future__ import annotations

import unicodedata


class TweetbenchError(Exception):
    """An error the user can fix; the CLI prints ``message`` on one line and exits with ``exit_code``."""

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The message on one line: line breaks of any kind become spaces, and other control characters
        (from a file's contents or name, say) are shown escaped rather than sent to the terminal."""
        text = " ".join(str(self.args[0]).splitlines())
        return "".join(ch if ch == "\t" or unicodedata.category(ch) != "Cc" else f"\\x{ord(ch):02x}" for ch in text)


class UsageError(TweetbenchError):
    """A wrong flag or value on the command line."""

    exit_code = 2


class DataError(TweetbenchError):
    """A data file that is missing, unreadable or malformed."""

    exit_code = 3


class ResultsError(TweetbenchError):
    """A results file or directory that cannot be read or written."""

    exit_code = 4


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message; '' when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception in one line for a record: ``Type: first line of its message`` (cut to ``limit``
    characters), or ``Type`` alone when the message is empty."""
    message = first_line(exc)[:limit]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
