"""``tweetbench ab``: the ABBA order, the side options it accepts and refuses, and one real interleaved run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tweetbench.cli import main
from tweetbench.launch.ab import abba_order
from tweetbench.records import read_result
from tweetbench.records.run import read_meta


def test_abba_order_alternates_who_goes_first_in_each_pair():
    assert "".join(abba_order(6)) == "ABBAABBAABBA"
    assert "".join(abba_order(3)) == "ABBAAB"
    assert "".join(abba_order(1)) == "AB"


@pytest.mark.parametrize("repeats", range(1, 10))
def test_every_pair_holds_one_trial_of_each_side_and_the_kth_of_each_share_a_pair(repeats):
    order = abba_order(repeats)
    assert len(order) == 2 * repeats and order.count("A") == order.count("B") == repeats
    pairs = [order[i:i + 2] for i in range(0, len(order), 2)]
    assert all(sorted(pair) == ["A", "B"] for pair in pairs)
    assert [pair[0] for pair in pairs] == ["A" if k % 2 == 0 else "B" for k in range(repeats)]  # first mover alternates
    # A linear trend over the slots: both sides' mean slot is the same once the pairs are whole and even in number.
    if repeats % 2 == 0:
        slots = {side: [i for i, s in enumerate(order) if s == side] for side in "AB"}
        assert sum(slots["A"]) == sum(slots["B"])


def test_abba_order_needs_a_trial():
    with pytest.raises(ValueError):
        abba_order(0)


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--a", "--preset smoke"], "not '--preset smoke': give the others once, for both sides"),
    (["--a", "--seed 3"], "--a may set only --workload, --data, --text-column, --label-column, "),
    (["--b", "--devices gpu"], "--b may set only"),
    (["--a=--threads"], "argument --threads: expected one argument (see 'tweetbench ab --help')"),
    (["--a", "--threads two"], "argument --threads: 'two' is not a whole number"),
    (["--b", "--precision 32-true,bf16-mixed"], "--b names 2 workload variants"),
    (["--a", "'--threads 2"], "--a \"'--threads 2\" cannot be read"),
    (["--devices", "cpu,gpu"], "ab runs on one device"),
    (["--repeats", "0"], "argument --repeats: '0' must be a positive whole number"),
    (["--fail-on-regression", "5"], "the % sign is required"),
    (["--metric", "energy"], "argument --metric: invalid choice: 'energy'"),
])
def test_bad_ab_options_are_one_line_usage_errors(tmp_path, capsys, argv, fragment):
    code = main(["ab", "--workload", "tiny", "--out", str(tmp_path / "res"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("tweetbench: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())  # nothing ran


def test_the_default_pairs_and_metric_are_the_analysis_constants():
    from tweetbench.analysis.ab import DEFAULT_METRIC, DEFAULT_PAIRS
    from tweetbench.analysis.replication import smallest_p
    from tweetbench.cli import build_parser

    args = build_parser().parse_args(["ab", "--devices", "cpu"])
    assert args.repeats == DEFAULT_PAIRS == 8 and args.metric == DEFAULT_METRIC == "train"
    assert smallest_p(DEFAULT_PAIRS, DEFAULT_PAIRS, "paired") < 0.05  # the gated test can reach p < 0.05


def test_run_takes_threads_and_refuses_a_bad_count(capsys):
    assert main(["run", "--threads", "0"]) == 2
    assert "argument --threads: '0' must be a positive whole number" in capsys.readouterr().err


@pytest.mark.slow
def test_an_interleaved_run_writes_both_sides_in_abba_order_and_exits_by_the_gate(tmp_path, capsys):
    out = tmp_path / "res"
    code = main(["ab", "--devices", "cpu", "--workload", "tiny", "--preset", "smoke", "--repeats", "2",
                 "--a", "--threads 1", "--b", "", "--out", str(out), "--fail-on-regression", "5%", "--markdown"])
    captured = capsys.readouterr()
    assert code == 5, captured.err  # 2 pairs can never show a difference: the gate cannot decide
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    meta = read_meta(run_dir)
    assert meta["kind"] == "ab" and meta["status"] == "complete" and meta["ab"]["order"] == ["A", "B", "B", "A"]
    assert meta["ab"]["metric"] == "train"  # the gated metric, kept for the report's regeneration
    assert meta["ab"]["sides"]["A"]["threads"] == 1 and meta["ab"]["sides"]["B"]["threads"] is None
    for side, threads in (("a", 1), ("b", None)):
        combined = read_result(run_dir / side / "cpu.json").to_dict()
        assert combined["status"] == "ok" and combined["trials"]["count"] == 2 and combined["threads"] == threads
        for k in (1, 2):
            trial = json.loads((run_dir / side / "trials" / f"cpu.trial{k}.json").read_text())
            assert trial["threads"] == threads and trial["run_id"] == meta["run_id"]
            if threads is not None:
                assert trial["environment"]["torch_threads"] == threads
    report = (run_dir / "report.md").read_text()
    assert report == captured.out  # --markdown prints the report it wrote
    assert "2 interleaved pairs can't show a difference at 5%" in report and "use --repeats 6 or more" in report
    order = [line.split("|")[2].strip() for line in report.split("## Trials in run order")[1].splitlines()
             if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert order == ["A", "B", "B", "A"]
    assert "the regression gate cannot decide" in captured.err
    # The report renders again from the files alone, and either side can be compared as a device result.
    (run_dir / "report.md").unlink()
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    assert (run_dir / "report.md").read_text() == report
    assert main(["compare", str(run_dir / "a" / "cpu.json"), str(run_dir / "b" / "cpu.json"), "--markdown"]) == 0
    assert "ran at different times" not in capsys.readouterr().out  # one run: no sequential note
    assert not Path(out / "summary.md").exists()  # an A/B run is not the latest run of the summary
