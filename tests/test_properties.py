"""Property-based tests (hypothesis): the tokenizer, the CSV/JSONL reader and the results reader.

Each input either succeeds or fails with the one-line ``TweetbenchError`` the CLI prints; no input
ends in another exception (which the CLI would show as a traceback). The examples are derandomized,
so CI always runs the same ones; raise ``TWEETBENCH_HYPOTHESIS_EXAMPLES`` to explore more locally.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import os
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tweetbench import cli
from tweetbench.errors import DataError, ResultsError, TweetbenchError
from tweetbench.records import parse_result
from tweetbench.workload.reader import read_tweets
from tweetbench.workload.tokenizer import NUM, PAD_ID, UNK_ID, URL, Vocabulary, tokenize

SCALE = int(os.environ.get("TWEETBENCH_HYPOTHESIS_EXAMPLES", "1"))
FAST = settings(max_examples=100 * SCALE, deadline=None, derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=80 * SCALE, deadline=None, derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DATA = Path(__file__).parent / "data"
CPU_RESULT = (DATA / "cpu_result.json").read_text()

# Text as tweets come: any Unicode, plus the pieces the tokenizer treats specially.
tweet_text = st.lists(
    st.text(max_size=12) | st.sampled_from(["http://t.co/x", "www.a.b", "@who", "#tag", "3.5", "24/7", "don't",
                                             "\U0001F44D\U0001F3FD", "\U0001F1EB\U0001F1F7", "1\uFE0F\u20E3",
                                             "&amp;", "caf\u0065\u0301", " ", "\n", "\u200D", "\uFE0F"]),
    max_size=12,
).map("".join)


def one_line(exc: TweetbenchError) -> None:
    """What the CLI prints is one line, and sends no control character to the terminal."""
    assert exc.message and exc.message.splitlines() == [exc.message]
    assert not any(unicodedata.category(ch) == "Cc" and ch != "\t" for ch in exc.message)


# ---------------------------------------------------------------------------------------- tokenizer
@FAST
@given(tweet_text)
def test_tokenizer_never_raises_and_makes_clean_tokens(text: str) -> None:
    tokens = tokenize(text)
    assert tokens == tokenize(text)
    for token in tokens:
        assert token and not any(ch.isspace() for ch in token), token
        assert token in (URL, NUM) or "<" not in token, token  # only the markers look like markers
    assert tokenize(text + " ") == tokens


@FAST
@given(st.lists(tweet_text, min_size=1, max_size=8), st.integers(2, 40), st.integers(0, 20))
def test_vocabulary_encodes_to_static_shapes(texts: list[str], max_size: int, seq_len: int) -> None:
    token_lists = [tokenize(text) for text in texts]
    vocab = Vocabulary.build(token_lists, max_size)
    assert len(vocab) <= max_size
    for tokens in token_lists:
        ids = vocab.encode(tokens, seq_len)
        assert len(ids) == seq_len
        assert all(0 <= i < len(vocab) for i in ids)
        kept = min(len(tokens), seq_len)
        assert PAD_ID not in ids[:kept] and ids[kept:] == [PAD_ID] * (seq_len - kept)
        assert all(i == UNK_ID or vocab.itos[i] == t for i, t in zip(ids, tokens))
    assert set(vocab.itos[2:]) <= set().union(*token_lists)


# ------------------------------------------------------------------------------------------- reader
def _read(raw: bytes, suffix: str) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"tweets{suffix}"
        path.write_bytes(raw)
        try:
            return read_tweets(path)
        except DataError as exc:
            one_line(exc)
            return exc


SUFFIXES = st.sampled_from([".csv", ".jsonl", ".ndjson", ".txt", ""])


def _usable_or_refused(result: Any) -> None:
    """A refusal (one line, checked by ``_read``), or usable tweets: each with text and a trimmed author, and
    every row read counted once, as a tweet or as skipped."""
    if isinstance(result, DataError):
        return
    assert result.tweets
    assert all(t.text.strip() and t.author and t.author == t.author.strip() for t in result.tweets), result.tweets
    assert result.rows_total == len(result.tweets) + result.skipped_empty_text + result.skipped_missing_label


@FAST
@given(st.binary(max_size=400), SUFFIXES)
def test_reader_on_random_bytes_reads_or_says_why(raw: bytes, suffix: str) -> None:
    _usable_or_refused(_read(raw, suffix))


# Text built from the pieces of a CSV or JSONL file, half of it after a header, so that some is read and some refused.
near_valid_text = st.tuples(
    st.sampled_from(["", "text,author\n"]),
    st.lists(st.sampled_from(['text,author\n', '"', ',', '\n', '\r\n', 'hi', 'ann', '{"text": "x", "author": 1}',
                              '{', '}', '[]', '\ufeff', 'null', '\u2028', '\\', ' ', '\r', '\x1b[2J', '\x85']),
             max_size=30),
).map(lambda parts: parts[0] + "".join(parts[1]))


@FAST
@given(near_valid_text, SUFFIXES)
@example("text,author\nhi,\n,ann\n \t,ann\nhi, ann \n", ".csv")  # each kind of row: no author, no text, usable
@example('{"text": "x", "author": 1}\n{"text": "", "author": "a"}\n{"text": "y"}\n', ".jsonl")
def test_reader_on_near_valid_text_reads_or_says_why(text: str, suffix: str) -> None:
    _usable_or_refused(_read(text.encode("utf-8"), suffix))


def test_near_valid_text_reaches_both_outcomes() -> None:
    """Guard against a generator that only ever makes files the reader refuses (or only ones it reads)."""
    outcomes = set()

    @settings(max_examples=100, deadline=None, derandomize=True, database=None)
    @given(near_valid_text, SUFFIXES)
    def probe(text: str, suffix: str) -> None:
        outcomes.add("refused" if isinstance(_read(text.encode("utf-8"), suffix), DataError) else "read")

    probe()
    assert outcomes == {"read", "refused"}


row_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
rows = st.lists(st.tuples(row_text, row_text), min_size=1, max_size=12)


def _reads_back(raw: bytes, suffix: str, pairs: list[tuple[str, str]]) -> None:
    """The file holding ``pairs`` reads back as its rows with text and an author (trimmed), or is refused if none."""
    result = _read(raw, suffix)
    expected = [(text, author.strip()) for text, author in pairs if text.strip() and author.strip()]
    if not expected:
        assert isinstance(result, DataError)
        return
    assert [(t.text, t.author) for t in result.tweets] == expected


@FAST
@given(rows)
def test_csv_round_trip(pairs: list[tuple[str, str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["text", "author"])
    writer.writerows(pairs)
    _reads_back(buffer.getvalue().encode("utf-8"), ".csv", pairs)


@FAST
@given(rows)
def test_jsonl_round_trip(pairs: list[tuple[str, str]]) -> None:
    text = "\n".join(json.dumps({"text": t, "author": a}, ensure_ascii=False) for t, a in pairs) + "\n"
    _reads_back(text.encode("utf-8"), ".jsonl", pairs)


# ---------------------------------------------------------------------------------- results reader
@FAST
@given(st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
def test_results_reader_refuses_random_bytes_in_one_line_naming_the_file(raw: bytes) -> None:
    # The smallest valid result (a device that was unavailable) is about 1.5 kB of JSON: none of these is one.
    with pytest.raises(ResultsError) as info:
        parse_result(raw, "cpu.json")
    one_line(info.value)
    assert info.value.message.startswith("cpu.json "), info.value.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated_result(draw: st.DrawFn) -> bytes:
    """The fixture result, damaged: a byte-level cut, flip or insertion, or a structural change."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "replace", "delete", "replace", "delete"]))
    raw = json.dumps(json.loads(CPU_RESULT), indent=2).encode()
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1:]
    if kind == "insert":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    data = json.loads(CPU_RESULT)
    node: Any = data
    parent: Any = None
    key: Any = None
    # Walk down a random path, then replace or delete what is there.
    for _ in range(draw(st.integers(1, 6))):
        if isinstance(node, dict) and node:
            parent, key = node, draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            parent, key = node, draw(st.integers(0, len(node) - 1))
        else:
            break
        node = parent[key]
    assume(parent is not None)
    if kind == "delete":
        del parent[key]
    else:
        parent[key] = draw(json_values)
    return json.dumps(data).encode()


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, err.getvalue()


@SLOW
@given(mutated_result())
def test_report_and_compare_on_a_mutated_result_work_or_say_why(make_run_dir: Callable[..., Path], raw: bytes) -> None:
    """Through the CLI code: read, validate, render and write; or one line and exit code 4.

    A file that fails the schema is always refused; one that passes it is reported on, unless it lacks
    a key some section reads (the schema does not list them all), which is refused the same way.
    """
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "results"
        run_dir = make_run_dir(out)
        (run_dir / "cpu.json").write_bytes(raw)
        try:
            valid = parse_result(raw, "cpu.json")
        except ResultsError:
            valid = None
        for argv in (["report", str(run_dir), "--out", str(out)],
                     ["compare", str(DATA / "cpu_result.json"), str(run_dir / "cpu.json")],
                     ["compare", str(run_dir), str(run_dir)]):
            code, err = _cli(argv)
            if code == 0:
                assert valid is not None, (argv, err)
                continue
            assert code == ResultsError.exit_code and err.startswith("tweetbench: error: "), (argv, err)
            assert err.count("\n") == 1, err
            if valid is not None:  # passed the schema, yet lacks what a report section reads
                assert "cannot report on" in err, err


def test_mutations_reach_both_outcomes() -> None:
    """Guard against a generator that only ever makes unreadable (or only readable) files."""
    outcomes = set()

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(mutated_result())
    def probe(raw: bytes) -> None:
        try:
            parse_result(raw, "cpu.json")
            outcomes.add("valid")
        except ResultsError:
            outcomes.add("refused")

    probe()
    assert outcomes == {"valid", "refused"}


@pytest.mark.parametrize("damage", [lambda d: d["metrics"]["training"].update(step_ms={}),
                                    lambda d: d["device"].update(label=None),
                                    lambda d: d.update(status="exploded"),
                                    lambda d: d.update(schema_version="1")])
def test_hand_edited_results_are_refused_by_the_schema(damage: Any) -> None:
    data = copy.deepcopy(json.loads(CPU_RESULT))
    damage(data)
    with pytest.raises(ResultsError) as info:
        parse_result(json.dumps(data), "cpu.json")
    one_line(info.value)


def test_a_hand_edited_breakdown_is_refused_by_the_report(tmp_path: Path, make_run_dir: Callable[..., Path]) -> None:
    """The schema leaves the breakdown's inside open; the report still refuses one it cannot read."""
    data = json.loads(CPU_RESULT)
    data["breakdown"]["parts"] = "none"
    parse_result(json.dumps(data), "cpu.json")
    out = tmp_path / "results"
    run_dir = make_run_dir(out)
    (run_dir / "cpu.json").write_text(json.dumps(data))
    code, err = _cli(["report", str(run_dir), "--out", str(out)])
    assert code == 4 and err.count("\n") == 1 and "cannot report on (TypeError" in err, err
    assert not (run_dir / "report.md").exists()
