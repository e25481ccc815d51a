"""Folding a pytest-benchmark --benchmark-json file into summary.md."""

import json
from pathlib import Path

import pytest

from tweetbench.cli import main
from tweetbench.errors import ResultsError
from tweetbench.report.pytest_benchmark import (
    SAVED,
    fold_section,
    parse_pytest_benchmark,
    render_section,
)

DATA = Path(__file__).parent.parent / "data"
BENCH = DATA / "pytest_benchmark_fast.json"


def bench_data():
    return json.loads(BENCH.read_text())


def test_section_lines_devices_up_by_scenario_with_samples_per_s_and_fingerprint():
    data = bench_data()
    text = render_section(data, "bench.json")
    groups = {b["group"] for b in data["benchmarks"]}
    assert groups == {"train-step", "forward", "infer-batch1", "infer-batch256", "lightning-overhead"}
    for group in groups:
        assert f"### {group}\n" in text
    train = next(b for b in data["benchmarks"] if b["group"] == "train-step")
    assert f"{train['extra_info']['samples_per_s']:,.0f}" in text
    assert "CPU (AMD EPYC)" in text and train["extra_info"]["fingerprint"][:19] in text
    assert "Lightning / bare" in text and "not measurements" in text  # fast-mode figures are flagged
    assert text == render_section(data, "bench.json")  # pure


def test_folding_replaces_an_earlier_section():
    summary = "# tweetbench summary\n\nbody\n"
    once = fold_section(summary, "## pytest-benchmark\n\nfirst\n")
    twice = fold_section(once, "## pytest-benchmark\n\nsecond\n")
    assert twice.startswith(summary.rstrip("\n")) and "second" in twice and "first" not in twice


def write_run(out: Path) -> Path:
    meta = json.loads((DATA / "run_meta.json").read_text())
    run_dir = out / meta["run_id"]
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(meta))
    result = json.loads((DATA / "cpu_result.json").read_text())
    (run_dir / "cpu.json").write_text(json.dumps(dict(result, run_id=meta["run_id"])))
    return run_dir


def test_cli_folds_the_file_into_the_summary_and_later_reports_keep_it(tmp_path, capsys):
    out = tmp_path / "results"
    write_run(out)
    assert main(["report", "--out", str(out), "--pytest-benchmark", str(BENCH)]) == 0
    summary = (out / "summary.md").read_text()
    assert "Latest run:" in summary and "## pytest-benchmark" in summary and "### train-step" in summary
    assert (out / SAVED).is_file()
    assert main(["report", "--out", str(out)]) == 0  # a plain regeneration keeps the folded section
    assert (out / "summary.md").read_text() == summary
    capsys.readouterr()


def test_cli_folds_into_an_empty_results_directory(tmp_path):
    out = tmp_path / "results"
    assert main(["report", "--out", str(out), "--pytest-benchmark", str(BENCH)]) == 0
    assert "### infer-batch256" in (out / "summary.md").read_text()


@pytest.mark.parametrize(("content", "match"), [
    ("", "empty"),
    ('{"machine_info": {}, "benchm', "not valid JSON"),
    ('{"tool": "tweetbench"}', "is a tweetbench result"),
    ('{"machine_info": {}, "benchmarks": [{"name": 1}], "datetime": "x", "version": "5"}',
     "not a pytest-benchmark"),
    ('{"machine_info": {}, "benchmarks": [], "datetime": "x", "version": "5"}', "holds no benchmarks"),
    ("[1, 2]", "not a pytest-benchmark"),
])
def test_bad_files_are_refused_in_one_line(content, match):
    with pytest.raises(ResultsError, match=match) as info:
        parse_pytest_benchmark(content, "b.json")
    assert "\n" not in info.value.message


def test_cli_bad_file_exits_4_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bench.json"
    bad.write_text(BENCH.read_text()[:300])
    assert main(["report", "--out", str(tmp_path / "r"), "--pytest-benchmark", str(bad)]) == 4
    err = capsys.readouterr().err
    assert err.startswith("tweetbench: error: ") and err.count("\n") == 1
    assert main(["report", "--out", str(tmp_path / "r"), "--pytest-benchmark", str(tmp_path / "missing.json")]) == 4
    assert "cannot read" in capsys.readouterr().err
