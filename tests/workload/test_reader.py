import csv
import json
import os
import sys
from pathlib import Path

import pytest

from tweetbench.errors import DataError
from tweetbench.workload.corpus import Tweet
from tweetbench.workload.reader import ReadResult, parse_delimiter, read_tweets


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def assert_one_line_error(excinfo, *fragments):
    message = excinfo.value.message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_csv_quoted_commas_newlines_emoji_extra_columns(tmp_path):
    path = write(
        tmp_path / "t.csv",
        'id,text,author,likes\n'
        '1,"hello, world",ava,10\n'
        '2,"line one\nline two",marco,3\n'
        '3,launch \U0001F680 \U0001F469\u200d\U0001F680,ava,7\n'
        '4,"she said ""hi""",marco,0\n',
    )
    result = read_tweets(path)
    assert isinstance(result, ReadResult)
    assert result.tweets == [
        Tweet("hello, world", "ava"),
        Tweet("line one\nline two", "marco"),
        Tweet("launch \U0001F680 \U0001F469\u200d\U0001F680", "ava"),
        Tweet('she said "hi"', "marco"),
    ]
    assert (result.rows_total, result.skipped_empty_text, result.skipped_missing_label) == (4, 0, 0)
    assert result.source == str(path)


def test_csv_crlf_and_bom(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'\xef\xbb\xbftext,author\r\n"a\r\nb",x\r\nc,y\r\n')
    assert read_tweets(path).tweets == [Tweet("a\r\nb", "x"), Tweet("c", "y")]


def test_skipped_rows_are_counted(tmp_path):
    path = write(
        tmp_path / "t.csv",
        "text,author\nok,a\n,a\n   ,b\nno label,\nshort row\n\nfine,  b  \n,\n",
    )
    result = read_tweets(path)
    assert result.tweets == [Tweet("ok", "a"), Tweet("fine", "b")]
    assert result.rows_total == 7  # the blank line is not a row
    assert result.skipped_empty_text == 3
    assert result.skipped_missing_label == 2


def test_custom_columns(tmp_path):
    path = write(tmp_path / "t.csv", "body,user\nhi,7\n")
    assert read_tweets(path, text_column="body", label_column="user").tweets == [Tweet("hi", "7")]


def test_jsonl(tmp_path):
    rows = [
        {"text": "hi \U0001F600", "author": "ava", "extra": [1]},
        {"text": "", "author": "ava"},
        {"text": "no label"},
        {"text": "numeric label", "author": 3},
        {"text": "line\u2028separator inside", "author": None},
        {"text": "null label", "author": None},
    ]
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:3]) + "\n\n  \n"
    body += "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[3:]) + "\n"
    result = read_tweets(write(tmp_path / "t.jsonl", body))
    assert result.tweets == [Tweet("hi \U0001F600", "ava"), Tweet("numeric label", "3")]
    assert (result.rows_total, result.skipped_empty_text, result.skipped_missing_label) == (6, 1, 3)


@pytest.mark.parametrize(("name", "body"), [
    ("t.ndjson", '{"text": "a", "author": "x"}\n'),
    ("t.txt", '\n  {"text": "a", "author": "x"}\n'),
    ("t", '{"text": "a", "author": "x"}'),
    ("t.data", "text,author\na,x\n"),
    ("T.CSV", "text,author\na,x\n"),
])
def test_format_by_suffix_or_sniffing(tmp_path, name, body):
    assert read_tweets(write(tmp_path / name, body)).tweets == [Tweet("a", "x")]


def test_csv_suffix_is_not_sniffed(tmp_path):
    path = write(tmp_path / "t.csv", '{"text": "a", "author": "x"}\n')
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "no column")


def test_jsonl_bad_line_names_line_number(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"text": "a", "author": "x"}\n\n{"text": oops}\n')
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "line 3", "JSON")


def test_jsonl_non_object_line(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"text": "a", "author": "x"}\n["a", "x"]\n')
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "line 2", "JSON object", "list")


def test_jsonl_missing_fields_lists_fields(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"body": "a", "author": "x"}\n')
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "'text'", "author, body", "--text-column")


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_tweets(tmp_path / "nope.csv")
    assert_one_line_error(excinfo, "not found", "nope.csv")


def test_directory(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_tweets(tmp_path)
    assert_one_line_error(excinfo, "directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError) as excinfo:
        read_tweets(fifo)
    assert_one_line_error(excinfo, "not a regular file")


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_permission_denied(tmp_path):
    path = write(tmp_path / "t.csv", "text,author\na,x\n")
    path.chmod(0)
    try:
        with pytest.raises(DataError) as excinfo:
            read_tweets(path)
        assert_one_line_error(excinfo, "permission denied")
    finally:
        path.chmod(0o600)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc")
def test_read_error_on_a_regular_file():
    # /proc/self/mem is a regular file whose read fails with EIO, even for root.
    with pytest.raises(DataError) as excinfo:
        read_tweets("/proc/self/mem")
    assert_one_line_error(excinfo, "cannot read", "/proc/self/mem")


def test_binary_file(tmp_path):
    path = tmp_path / "model.csv"
    path.write_bytes(b"text,author\n\x89PNG\x00\x01\x02")
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "binary", "offset 16")


def test_non_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,author\ncaf\u00e9,x\n".encode("latin-1"))
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "not UTF-8", "offset 15", "0xe9")


def test_non_utf8_offset_counts_bom(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbftext,author\n\xff,x\n")
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "offset 15")


def test_csv_missing_columns_lists_columns(tmp_path):
    path = write(tmp_path / "t.csv", "id,body,user\n1,hi,x\n")
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(
        excinfo, "'text', 'author'", "id, body, user", "--text-column/--label-column"
    )


def test_csv_missing_one_column(tmp_path):
    path = write(tmp_path / "t.csv", "text,user\nhi,x\n")
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "'author'", "text, user")
    assert "'text'" not in excinfo.value.message


@pytest.mark.parametrize("body", ["", "  \n\n\t", "\ufeff"])
def test_empty_file(tmp_path, body):
    with pytest.raises(DataError) as excinfo:
        read_tweets(write(tmp_path / "t.csv", body))
    assert_one_line_error(excinfo, "empty")


@pytest.mark.parametrize(("name", "body"), [
    ("t.csv", "text,author\n"),
    ("t.csv", "text,author\n,x\ny,\n"),
    ("t.jsonl", '{"text": " ", "author": "x"}\n'),
])
def test_no_usable_rows(tmp_path, name, body):
    with pytest.raises(DataError) as excinfo:
        read_tweets(write(tmp_path / name, body))
    assert_one_line_error(excinfo, "no usable rows")


def test_malformed_csv_names_line(tmp_path):
    path = write(tmp_path / "t.csv", "text,author\nok,x\n" + '"' + "x" * 200_000 + '",y\n')
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "malformed CSV", "line")


def test_data_error_exit_code(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_tweets(tmp_path / "missing.jsonl")
    assert excinfo.value.exit_code == 3


# --------------------------------------------------------------------------- delimiters, as people export CSV


def test_semicolon_csv_from_european_excel_is_detected(tmp_path):
    path = write(tmp_path / "excel.csv", 'text;author\n"hello, world";ava\n"a; b";marco\n12,5 km;ava\n')
    result = read_tweets(path)
    assert result.delimiter == ";"
    assert result.tweets == [Tweet("hello, world", "ava"), Tweet("a; b", "marco"), Tweet("12,5 km", "ava")]


@pytest.mark.parametrize("name", ["export.tsv", "export.txt", "export.csv"])
def test_tab_delimited_files_are_read_by_extension_or_detected(tmp_path, name):
    path = write(tmp_path / name, "id\ttext\tauthor\n1\thi, there; you\tava\n2\tbye\tmarco\n")
    result = read_tweets(path)
    assert result.delimiter == "\t"
    assert result.tweets == [Tweet("hi, there; you", "ava"), Tweet("bye", "marco")]


def test_a_misleading_sniff_falls_back_to_the_delimiter_that_has_the_columns(tmp_path):
    # csv.Sniffer takes ;"quoted"; inside the texts for a semicolon-delimited file's quoted fields; the
    # header names the columns only when read with commas, so commas are used.
    body = 'text,author\nhe said ;"hi"; twice,ava\nshe said ;"ho"; twice,marco\n'
    assert csv.Sniffer().sniff(body, delimiters=",;\t|").delimiter == ";"  # the misleading guess
    path = write(tmp_path / "t.csv", body)
    result = read_tweets(path)
    assert result.delimiter == ","
    assert result.tweets == [Tweet('he said ;"hi"; twice', "ava"), Tweet('she said ;"ho"; twice', "marco")]


def test_a_given_delimiter_is_used_as_is(tmp_path):
    path = write(tmp_path / "t.txt", "text|author\nhi|ava\n")
    assert read_tweets(path, delimiter="|").tweets == [Tweet("hi", "ava")]
    with pytest.raises(DataError) as excinfo:
        read_tweets(path, delimiter=",")
    assert_one_line_error(excinfo, "(its columns: text|author) when read as comma-separated (--delimiter)")


def test_missing_columns_name_the_delimiter_used(tmp_path):
    path = write(tmp_path / "t.csv", "body;who\nhi;ava\nho;marco\n")
    with pytest.raises(DataError) as excinfo:
        read_tweets(path)
    assert_one_line_error(excinfo, "no column 'text', 'author' (its columns: body, who) when read as "
                          "semicolon-separated", "--text-column/--label-column", "--delimiter")


@pytest.mark.parametrize(("text", "expected"), [("tab", "\t"), ("\\t", "\t"), ("\t", "\t"), ("Semicolon", ";"),
                                                (";", ";"), ("comma", ","), ("|", "|")])
def test_delimiters_by_name_or_character(text, expected):
    assert parse_delimiter(text) == expected


@pytest.mark.parametrize("text", ["", ";;", '"', "\n", "space bar"])
def test_bad_delimiters_are_refused(text):
    with pytest.raises(ValueError, match="not a delimiter"):
        parse_delimiter(text)
