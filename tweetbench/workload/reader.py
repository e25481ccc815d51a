"""Read a user's labelled tweets from CSV or JSONL, with a one-line ``DataError`` for every failure.

Rows whose text is empty (or only whitespace) and rows without a label are skipped and counted,
not fatal; a row lacking both counts as empty text. Labels are ``str()`` of the value, stripped.

CSV files come as people export them: comma-, semicolon- (European Excel), tab- or pipe-separated.
Unless the delimiter is given, a ``.tsv`` is read as tab-separated and any other CSV's delimiter is
found by ``csv.Sniffer`` over its first lines; if the named columns are not in the header that way
but are with another of those delimiters, that one is used. A missing column's message names the
delimiter the file was read with.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tweetbench.errors import DataError
from tweetbench.records.files import read_bytes
from tweetbench.workload.corpus import Tweet

_BOM = b"\xef\xbb\xbf"
_TSV_SUFFIXES = frozenset({".tsv", ".tab"})
_CSV_SUFFIXES = frozenset({".csv"}) | _TSV_SUFFIXES
# The delimiters tried when none is given, and their names in messages.
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_LINES, _SNIFF_CHARS = 20, 65536  # csv.Sniffer reads at most this much
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})


@dataclass(frozen=True)
class ReadResult:
    """The usable tweets of one file and what was skipped on the way."""

    tweets: list[Tweet]
    rows_total: int
    skipped_empty_text: int
    skipped_missing_label: int
    source: str
    delimiter: str | None = None  # the CSV delimiter used; None for JSONL


def read_tweets(
    path: str | Path, text_column: str = "text", label_column: str = "author", delimiter: str | None = None
) -> ReadResult:
    """Read ``.csv``/``.tsv`` or ``.jsonl``/``.ndjson`` (other suffixes are sniffed) into tweets.

    ``delimiter``: the CSV's, when the file's own is not to be detected (see the module docstring).
    Raises ``DataError`` for a missing, unreadable, binary or non-UTF-8 file, a CSV without the
    named columns, a JSONL line that is not a JSON object, and a file with no usable rows.
    """
    path = Path(path)
    text = _read_text(path)
    if _is_jsonl(path, text):
        return _collect(path, _jsonl_rows(path, text, text_column, label_column), None)
    used = _csv_delimiter(path, text, (text_column, label_column), delimiter)
    return _collect(path, _csv_rows(path, text, text_column, label_column, used), used)


def parse_delimiter(text: str) -> str:
    """A delimiter as given on the command line: one character, or tab, comma, semicolon or pipe by name
    (``\\t`` too, as shells pass it). Raises ``ValueError`` with the reason."""
    named = {name: char for char, name in DELIMITER_NAMES.items()} | {"\\t": "\t"}
    value = named.get(text.strip().lower(), text)
    if len(value) != 1 or value in '"\r\n':
        raise ValueError(f"{text!r} is not a delimiter: give one character, or tab, comma, semicolon or pipe")
    return value


def _describe(delimiter: str) -> str:
    name = DELIMITER_NAMES.get(delimiter)
    return f"{name}-separated" if name else f"separated by {delimiter!r}"


def _header(text: str, delimiter: str) -> list[str]:
    try:
        return [name.strip() for name in next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])]
    except csv.Error:
        return []


def _sniffed(path: Path, text: str) -> str:
    """The delimiter of a CSV: tab for a ``.tsv``, else ``csv.Sniffer``'s guess over the first lines
    (comma when it cannot tell, as in a file of one column)."""
    if path.suffix.lower() in _TSV_SUFFIXES:
        return "\t"
    sample = "\n".join(text[:_SNIFF_CHARS].splitlines()[:_SNIFF_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITER_NAMES)).delimiter
    except csv.Error:
        return ","


def _csv_delimiter(path: Path, text: str, columns: tuple[str, str], given: str | None) -> str:
    """The delimiter to read with: the given one, else the detected one, else another of the usual ones
    under which the header has the named columns; refuses a header without them with a ``DataError``."""
    guess = given or _sniffed(path, text)
    tried = [guess] if given else [guess, *(d for d in DELIMITER_NAMES if d != guess)]
    for delimiter in tried:
        if all(name in _header(text, delimiter) for name in columns):
            return delimiter
    header = _header(text, guess)
    names = ", ".join(repr(name) for name in columns if name not in header)
    raise DataError(
        f"{path} has no column {names} (its columns: {', '.join(header) or 'none'}) when read as "
        f"{_describe(guess)}{' (--delimiter)' if given else ''}; name yours with --text-column/--label-column"
        + ("" if given else ", or give the file's delimiter with --delimiter")
    )


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"data file not found: {path}; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass a .csv or .jsonl file")
    if not path.is_file():
        raise DataError(f"{path} is not a regular file; pass a .csv or .jsonl file")
    data = read_bytes(path, "a .csv or .jsonl file", DataError)
    bom = len(_BOM) if data.startswith(_BOM) else 0
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError(
            f"{path} looks binary (NUL byte at offset {nul}); expected UTF-8 CSV or JSONL text"
        )
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (invalid byte 0x{data[bom + exc.start]:02x} at offset "
            f"{bom + exc.start}); re-save it as UTF-8"
        ) from None
    if not text.strip():
        raise DataError(f"{path} is empty; it needs a header row and tweets")
    return text


def _is_jsonl(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return True
    if suffix in _CSV_SUFFIXES:
        return False
    return text.lstrip().startswith("{")


# Each row is (text, label) with None for a missing value.
_Row = tuple[object, object]


def _csv_rows(path: Path, text: str, text_column: str, label_column: str, delimiter: str) -> Iterator[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader, [])]  # has the columns: _csv_delimiter checked
        text_at, label_at = header.index(text_column), header.index(label_column)
        for row in reader:
            if not row:
                continue  # a blank line
            yield (
                row[text_at] if text_at < len(row) else None,
                row[label_at] if label_at < len(row) else None,
            )
    except csv.Error as exc:
        raise DataError(
            f"{path} line {reader.line_num}: malformed CSV ({exc}); fix that line"
        ) from None


def _jsonl_rows(path: Path, text: str, text_column: str, label_column: str) -> Iterator[_Row]:
    keys_seen: set[str] = set()
    # Split on "\n" only: str.splitlines() would also cut at U+2028 inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path} line {number}: not valid JSON ({exc.msg}); "
                "each line must be one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{path} line {number}: expected a JSON object, got {type(record).__name__}; "
                "each line must be one JSON object"
            )
        keys_seen.update(record)
        yield record.get(text_column), record.get(label_column)
    missing = [name for name in (text_column, label_column) if name not in keys_seen]
    if keys_seen and missing:
        names = ", ".join(repr(name) for name in missing)
        raise DataError(
            f"{path} has no field {names} in any line "
            f"(its fields: {', '.join(sorted(keys_seen))}); "
            "name yours with --text-column/--label-column"
        )


def _as_text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _collect(path: Path, rows: Iterator[_Row], delimiter: str | None) -> ReadResult:
    tweets: list[Tweet] = []
    total = empty_text = missing_label = 0
    for raw_text, raw_label in rows:
        total += 1
        text, label = _as_text(raw_text), _as_text(raw_label).strip()
        if not text.strip():
            empty_text += 1
        elif not label:
            missing_label += 1
        else:
            tweets.append(Tweet(text=text, author=label))
    if not tweets:
        raise DataError(
            f"{path} has no usable rows ({total} rows: {empty_text} with empty text, "
            f"{missing_label} without a label); it needs rows with both text and a label"
        )
    return ReadResult(
        tweets=tweets,
        rows_total=total,
        skipped_empty_text=empty_text,
        skipped_missing_label=missing_label,
        source=str(path),
        delimiter=delimiter,
    )
