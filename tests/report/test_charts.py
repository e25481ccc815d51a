"""The summary's PNGs: drawn from result records alone (built here, nothing run), valid, linked from summary.md."""

from __future__ import annotations

import json

from tweetbench.records import DeviceResult
from tweetbench.report.charts import (
    CHARTS,
    SUMMARY_PREFIX,
    charts_section,
    charts_with_data,
    device_rows,
    render_charts,
)
from tweetbench.report.markdown import render_summary
from tweetbench.report.writer import write_run_reports

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rows(make_record):
    gpu = make_record("gpu", samples=9000.0)
    gpu["metrics"]["inference"]["latency_batch1_ms"].update(p50=0.2, p90=0.3, p99=0.9)
    no_profile = make_record("gpu", host="box")
    no_profile["device"]["name"] = "gpu:1"
    no_profile["breakdown"] = None
    return [("laptop · cpu", make_record()), ("laptop · gpu", gpu), ("box · gpu:1", no_profile),
            ("box · tpu", make_record("gpu", status="unavailable"))]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_chart_is_a_valid_png_drawn_from_the_records(make_record):
    pngs = render_charts(rows(make_record), "summary")
    assert list(pngs) == [f"summary-{chart.name}.png" for chart in CHARTS]
    for data in pngs.values():
        width, height = png_size(data)
        assert width > 400 and height > 200


def test_charts_are_reproducible_and_change_with_the_records(make_record):
    assert render_charts(rows(make_record), "s") == render_charts(rows(make_record), "s")
    changed = rows(make_record)
    changed[0][1]["metrics"]["training"]["samples_per_s"] *= 3
    assert render_charts(changed, "s")["s-training.png"] != render_charts(rows(make_record), "s")["s-training.png"]


def test_no_chart_without_a_measured_device_and_links_match_the_drawn_files(make_record):
    nothing = [("gpu", make_record("gpu", status="unavailable"))]
    assert charts_with_data(nothing) == [] and charts_section(nothing, "summary") == []
    assert render_charts(nothing, "summary") == {}
    links = charts_section(rows(make_record), "summary")
    assert [line[line.index("(") + 1:-1] for line in links if line.startswith("![")] == list(
        render_charts(rows(make_record), "summary"))


def test_the_single_run_summary_links_its_pngs_and_the_writer_puts_them_next_to_it(tmp_path, run_meta, make_record):
    run_id = run_meta["run_id"]
    records = [make_record(run_id=run_id), make_record("gpu", status="unavailable", run_id=run_id)]
    text = render_summary(run_meta, records)
    assert "![Training samples/s](summary-training.png)" in text
    out = tmp_path / "results"
    run_dir = out / run_meta["run_id"]
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(run_meta))
    write_run_reports(out, run_dir, run_meta, [DeviceResult(r) for r in records])
    written = sorted(p.name for p in out.glob("*.png"))
    assert written == sorted(f"{SUMMARY_PREFIX}-{chart.name}.png" for chart in CHARTS)
    assert all((out / name).read_bytes().startswith(PNG_SIGNATURE) for name in written)
    assert all(f"({name})" in (out / "summary.md").read_text() for name in written)


def test_device_rows_name_devices_as_the_run_does(make_record):
    labelled = device_rows([make_record(), make_record("gpu", status="unavailable")])
    assert [label for label, _ in labelled] == ["cpu", "gpu"]
