"""The console's final table of a serve run, from validated records alone."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from rich.console import Console

from tweetbench.records import DeviceResult
from tweetbench.report.serving_console import serving_results_table

RECORD = json.loads((Path(__file__).resolve().parents[1] / "data" / "serve_cpu_result.json").read_text())


def shown(results: list[DeviceResult], width: int) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(serving_results_table(results, width))
    return console.export_text()


def test_the_table_gives_each_server_its_figures_within_the_width() -> None:
    server = RECORD["metrics"]["serving"]["servers"]["inprocess"]
    text = shown([DeviceResult(RECORD)], 100)
    assert "tweetbench serving (LoadGen; not MLPerf-compliant)" in text
    assert "inprocess" in text and f"{server['max_qps']:,.0f}" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_device_that_served_nothing_keeps_its_row_and_reason() -> None:
    unavailable = copy.deepcopy(RECORD)
    unavailable.update(status="unavailable", reason="no GPU on this machine", metrics={})
    unavailable["device"] = dict(unavailable["device"], name="gpu", kind="gpu")
    text = shown([DeviceResult(RECORD), DeviceResult(unavailable)], 120)
    row = next(line for line in text.splitlines() if " gpu " in line)
    assert "unavailable" in row and "no GPU on this machine" in row
