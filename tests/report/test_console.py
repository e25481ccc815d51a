"""The terminal output without a terminal: plain progress lines, and a final table that fits 100 columns."""

from __future__ import annotations

import io
import itertools

from rich.console import Console

from tweetbench.records import DeviceResult
from tweetbench.report.console import (
    TABLE_WIDTH,
    PlainProgress,
    convergence_results_table,
    progress_display,
    results_table,
    table_console,
)

PHASES = ("train", "infer-latency", "infer-offline", "overhead", "profile")


def test_plain_progress_prints_one_line_per_phase_with_elapsed_time_and_no_ansi():
    stream = io.StringIO()
    ticks = itertools.count(0.0, 1.5)
    with PlainProgress(stream, clock=lambda: next(ticks)) as progress:
        progress.on_event("cpu", {"event": "device-start"})
        for name in PHASES:
            progress.on_event("cpu", {"event": "phase", "name": name, "total": 20})
            for done in range(1, 21):
                progress.on_event("cpu", {"event": "step", "name": name, "done": done})
        progress.on_event("cpu", {"event": "device-end", "status": "ok"})
    lines = stream.getvalue().splitlines()
    assert "\x1b" not in stream.getvalue()
    assert len(lines) == len(PHASES) + 2  # started, a line per phase, the status; steps print nothing
    assert [line.split()[2] for line in lines[1:-1]] == list(PHASES)
    assert "train (20 steps)" in lines[1] and lines[1].endswith("elapsed     1.5 s")
    assert lines[-1].split()[1:3] == ["cpu", "ok"] and lines[-1].endswith("elapsed     9.0 s")


def test_without_a_terminal_the_progress_is_plain_lines():
    # Under pytest stdout and stderr are captured, not terminals.
    assert isinstance(progress_display(), PlainProgress)


def test_the_results_table_fits_100_columns_and_cuts_a_long_reason(make_record):
    long = make_record("gpu", status="unavailable")
    long["reason"] = "no CUDA GPU found (torch.cuda.is_available() is False) " + "and a great deal more " * 5
    results = [DeviceResult(make_record()), DeviceResult(long)]
    stream = io.StringIO()
    console = table_console(stream)
    assert console.width == TABLE_WIDTH  # not a terminal: the full 100 columns, not rich's 80
    console.print(results_table(results, console.width))
    text = stream.getvalue()
    assert "\x1b" not in text
    assert max(len(line) for line in text.splitlines()) <= TABLE_WIDTH
    assert "…" in text and "no CUDA GPU found" in text
    assert make_record()["breakdown"]["verdict"] in text  # a short verdict stays whole
    assert f"{make_record()['metrics']['training']['samples_per_s']:,.0f}" in text


def test_the_convergence_table_fits_too(make_record):
    long = make_record("gpu", status="unavailable")
    long["reason"] = "x" * 300
    stream = io.StringIO()
    Console(file=stream, width=TABLE_WIDTH).print(convergence_results_table([DeviceResult(long)]))
    assert max(len(line) for line in stream.getvalue().splitlines()) <= TABLE_WIDTH and "…" in stream.getvalue()


def test_the_status_names_interference_with_the_cores_others_used(make_record):
    interfered = make_record()
    interfered["metrics"]["interference"] = {
        "policy": "flag", "interfered": True, "interfered_windows": ["training"],
        "windows": {"training": {"interfered": True, "cpu_measured": True, "others_cores": 0.93, "stalled_steps": 3}}}
    stream = io.StringIO()
    table_console(stream).print(results_table([DeviceResult(interfered), DeviceResult(make_record())]))
    text = stream.getvalue()
    assert "ok (interference: 0.9 cores)" in text
    assert text.count("interference") == 1  # the quiet record's status says nothing
