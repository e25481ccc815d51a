"""The interleaved A/B report: the sides, the ratio with its interval, the verdict, every trial in run order."""

import numpy as np
from rich.console import Console

from tweetbench.analysis.ab import compare_ab
from tweetbench.report.ab import order_table, render_ab_report

ORDER = list("ABBAABBAABBA")


def side(step_ms):
    per_trial = [{"trial": k, "status": "ok", "step_p50_ms": s, "latency_batch1_p50_ms": s / 10,
                  "offline_batch_p50_ms": s * 5} for k, s in enumerate(step_ms, 1)]
    raw = [s / 1e3 for s in step_ms for _ in range(5)]
    return {"device": {"name": "cpu"}, "status": "ok", "reason": "", "run_id": "r", "noisy": False,
            "workload": {"name": "w", "fingerprint": "f"}, "trials": {"per_trial": per_trial},
            "metrics": {"training": {"raw_step_s": raw, "batch_size": 32},
                        "inference": {"raw_latency_s": raw, "offline": {"raw_batch_s": raw, "batch_size": 256}}}}


def meta(status="complete"):
    return {"run_id": "20261201-000000-abcdef", "status": status, "preset": "quick",
            "command": ["tweetbench", "ab", "--devices", "cpu", "--a", "--threads 2", "--b", "--threads 1"],
            "ab": {"device": "cpu", "order": ORDER, "fail_on_regression": None,
                   "sides": {"A": {"dir": "a", "options": "--threads 2", "workload": "tweets-bilstm-tiny",
                                   "precision": "32-true", "threads": 2, "data": None},
                             "B": {"dir": "b", "options": "--threads 1", "workload": "tweets-bilstm-tiny",
                                   "precision": "32-true", "threads": 1, "data": None}}}}


def drifting():
    drift = np.linspace(1.0, 1.3, 6)
    return compare_ab(meta()["ab"], {"A": side(list(10.0 * drift)),
                                     "B": side(list(12.0 * drift * np.array([1, 1.01, 0.99, 1, 1.02, 0.98])))})


def test_the_report_gives_the_ratio_interval_verdict_and_every_trial_in_run_order():
    ab = drifting()
    text = render_ab_report(meta(), ab)
    row = ab.comparison.rows[0]
    assert "# tweetbench ab 20261201-000000-abcdef" in text and "ABBA order" in text
    assert "`tweetbench ab --devices cpu --a '--threads 2' --b '--threads 1'`" in text  # the quoting kept
    assert "| A | `--threads 2` | tweets-bilstm-tiny | 32-true | 2 | built-in corpus |" in text
    assert f"{row.trials.ratio:.3f} [{row.trials.low:.3f}, {row.trials.high:.3f}]" in text
    assert f"**slower ({abs(row.change):.1%})**" in text and "| 6 vs 6 pairs |" in text
    order = text.split("## Trials in run order", 1)[1]
    positions = [line.split("|")[1:4] for line in order.splitlines() if line.startswith("| ") and "side" not in line]
    assert [(p.strip(), s.strip(), k.strip()) for p, s, k in positions][:4] == [
        ("1", "A", "1"), ("2", "B", "1"), ("3", "B", "2"), ("4", "A", "2")]
    assert "batch-256 throughput (samples/s)" in order  # the column names the batch the comparison used
    assert "| 1 | A | 1 | ok | 3,200 |" in order and "| 12 | A | 6 | ok | 2,462 |" in order  # the drift shows
    assert "Method: Trials are the unit" in text and "ABBA pair" in text


def test_an_incomplete_run_without_a_comparison_says_why():
    ab = compare_ab(meta()["ab"], {"A": side([10.0]), "B": None})
    text = render_ab_report(meta("incomplete"), ab)
    assert "**This run is incomplete**" in text and "Not compared: a side has no result" in text
    assert "| 2 | B | 1 | not run | – | – | – |" in text


def test_the_terminal_table_lists_every_trial():
    console = Console(record=True, width=200)
    console.print(order_table(drifting()))
    text = console.export_text()
    assert "trials in run order (ABBA)" in text and text.count(" ok ") == 12


def test_the_report_names_the_gated_metric_and_the_smallest_change_it_can_show():
    text = render_ab_report(meta(), drifting())
    assert "Gated metric: **training throughput** (`--metric train`)" in text
    assert "Smallest detectable change (t-test power at the measured spread):" in text
    assert "- cpu training throughput: at this spread (sd " in text and "6 pairs can show a change of" in text
    assert "(Holm " in text and "(secondary, not gated)" in text  # latency and batch-N: reported, not gated
