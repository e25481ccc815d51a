"""The console's final table of a serve run (rich), from the records' serving figures."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from tweetbench.records import DeviceResult
from tweetbench.report.console import TABLE_WIDTH, fitted_table
from tweetbench.report.serving import console_rows


def serving_results_table(results: Sequence[DeviceResult], width: int = TABLE_WIDTH) -> Table:
    headers, rows = console_rows([r.to_dict() for r in results])
    return fitted_table("tweetbench serving (LoadGen; not MLPerf-compliant)", headers, rows, width)
