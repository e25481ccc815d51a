"""How figures, times and texts are written into every report, and the frame of a run's report.md."""

from __future__ import annotations

import pytest

from tweetbench.report.cells import (
    environment_line,
    fmt,
    pct,
    run_document,
    short_fingerprint,
    table_cell,
    table_row,
    when,
    workload_line,
)

FINGERPRINT = "sha256:" + "0123456789abcdef" * 4


def record(name: str = "tweets-bilstm-tiny", fingerprint: str | None = FINGERPRINT, **environment: object) -> dict:
    return {"workload": {"name": name, "fingerprint": fingerprint}, "environment": environment}


@pytest.mark.parametrize("value, args, text", [
    (1234.5678, (), "1,234.6"), (1234.5678, (0,), "1,235"), (1.5, (2, "×"), "1.50×"), (None, (2, "×"), "–"),
])
def test_fmt_separates_thousands_and_writes_a_dash_for_a_missing_figure(value, args, text) -> None:
    assert fmt(value, *args) == text


def test_pct_writes_a_share_as_a_percentage() -> None:
    assert (pct(0.25), pct(0.0), pct(None)) == ("25.0%", "0.0%", "–")


def test_a_cell_is_one_line_with_its_pipes_escaped_and_a_row_joins_cells() -> None:
    assert table_cell("a | b\nc") == "a \\| b c"
    assert table_row("x", 1, None) == "| x | 1 | None |"
    assert table_row(*map(table_cell, ("p|q", "r"))) == "| p\\|q | r |"


def test_when_is_utc_to_the_minute_and_a_dash_when_unknown() -> None:
    assert when(0.0) == "1970-01-01 00:00 UTC"
    assert when(1_800_000_000.0) == "2027-01-15 08:00 UTC"
    assert when(None) == "–"


def test_a_fingerprint_is_cut_to_what_the_eye_compares() -> None:
    assert short_fingerprint(FINGERPRINT) == "`sha256:0123456789ab…`"
    assert short_fingerprint(None) == short_fingerprint("") == "–"


def test_the_workload_line_names_each_workload_and_fingerprint_once() -> None:
    records = [record(), record(), record("tweets-bilstm-v1", None)]
    assert workload_line(records) == ("Workload: tweets-bilstm-tiny, tweets-bilstm-v1 "
                                      "(fingerprint `sha256:0123456789ab…`)")
    assert workload_line([], "tweets-bilstm-v1") == "Workload: tweets-bilstm-v1 (fingerprint –)"


def test_the_environment_line_names_torch_xla_only_where_it_was_installed() -> None:
    stack = dict(cpu_model="EPYC", cpu_cores_logical=8, torch_threads=4, python="3.11.7", torch="2.9.0",
                 pytorch_lightning="2.6.6")
    assert environment_line(record(**stack)) == ("Environment: EPYC, 8 logical cores, 4 torch threads; "
                                                 "Python 3.11.7, torch 2.9.0, Lightning 2.6.6.")
    assert environment_line(record(**stack, torch_xla="2.9.0")).endswith("Lightning 2.6.6, torch_xla 2.9.0.")
    assert environment_line({}).startswith("Environment: ?, ? logical cores")


def test_a_run_document_frames_the_body_and_flags_an_unfinished_run() -> None:
    meta = {"run_id": "20260101-000000-abcdef", "status": "complete", "command": ["tweetbench", "run"]}
    text = run_document("tweetbench run", meta, "About.", ["Body.", ""], ["### cpu", "### gpu"])
    assert text == ("# tweetbench run 20260101-000000-abcdef\n\nAbout.\n\nCommand: `tweetbench run`\n\nBody.\n\n"
                    "## Devices\n\n### cpu\n\n### gpu\n")
    unfinished = run_document("tweetbench run", dict(meta, status="incomplete"), "About.", [], [])
    assert "> **This run is incomplete**: only the devices listed below finished." in unfinished
