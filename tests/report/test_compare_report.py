"""The pure renderers of a comparison: Markdown and the rich terminal table."""

import numpy as np
from rich.console import Console

from tweetbench.analysis.compare import RunComparison, Side, compare_metric, compare_records
from tweetbench.analysis.figures import METRICS
from tweetbench.report.compare import regression_lines, render_markdown, rich_table


def record(scale, seed, trials=(1.0, 1.01, 0.99, 1.005, 0.995)):
    """A minimal record: per-step samples around ``scale`` and five trials whose medians are ``scale`` times
    ``trials`` (the verdict rests on the trials; a record with ``trials=()`` is a single trial)."""
    rng = np.random.default_rng(seed)
    steps = list(0.01 * scale * rng.lognormal(0, 0.01, 200))
    per_trial = [{"status": "ok", "step_p50_ms": 10.0 * scale * t, "latency_batch1_p50_ms": 10.0 * scale * t,
                  "offline_batch_p50_ms": 10.0 * scale * t} for t in trials]
    return {"device": {"name": "cpu"}, "status": "ok", "reason": "", "workload": {"name": "w", "fingerprint": "f"},
            "run_id": "r", "trials": {"per_trial": per_trial},
            "metrics": {"training": {"raw_step_s": steps, "batch_size": 32},
                        "inference": {"raw_latency_s": steps, "offline": {"raw_batch_s": steps, "batch_size": 256}}}}


def comparison(scale=1.10, bound=0.05, notes=("cpu: A is noisy ([x] 7% CV)",)):
    a, b = record(1.0, 0), record(scale, 1)
    rows = tuple(compare_metric("cpu", m, a, b, bound) for m in METRICS)
    return RunComparison("runs/A", "runs/B[1]", rows, tuple(notes), False, bound, "the method text")


def test_markdown_has_a_row_per_metric_with_ratio_interval_verdict_and_the_gate():
    result = comparison()
    text = render_markdown(result)
    assert "| cpu | training throughput (samples/s) |" in text
    assert "| cpu | batch-1 latency (ms) |" in text and "| cpu | batch-256 throughput (samples/s) |" in text
    row = result.rows[0]
    assert f"{row.trials.ratio:.3f} [{row.trials.low:.3f}, {row.trials.high:.3f}]" in text  # the verdict's ratio
    assert f"{row.steps.ratio:.3f} [{row.steps.low:.3f}, {row.steps.high:.3f}], p {row.steps.p_value:.2g}" in text
    assert "| 5 vs 5 trials |" in text
    assert f"**slower ({abs(row.change):.1%}) — REGRESSION**" in text and 0.08 < -row.change < 0.10
    assert "Regressions beyond the gate" in text and "Method: the method text" in text
    assert "A is noisy" in text
    assert regression_lines(result)[0].startswith(f"cpu training throughput: {abs(row.change):.1%} worse")


def test_markdown_says_when_nothing_regressed_and_warns_on_different_workloads():
    a, b = record(1.0, 0), record(1.0, 1)
    result = compare_records(Side("A", (a,), True), Side("B", (dict(b, workload={"name": "v", "fingerprint": "g"}),),
                                                         True), allow_different_workloads=True, bound=0.05)
    text = render_markdown(result)
    assert "No gated metric lies wholly beyond 5.0% worse" in text and "different workloads" in text


def test_rich_table_renders_every_row_and_keeps_brackets_literal():
    console = Console(record=True, width=250)
    console.print(rich_table(comparison()))
    text = console.export_text()
    assert text.count("slower") >= 3 and "REGRESSION" in text
    assert "runs/B[1]" in text and "[x] 7% CV" in text  # user text is escaped, not read as markup
    assert "the method text" in text
