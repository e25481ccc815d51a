"""The one builder of a step summary (``analysis/summary.py``), and that what reads a step figure reads it from
there instead of computing it again."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from tweetbench.analysis.summary import Summary, step_summary

PACKAGE = Path(__file__).resolve().parents[2] / "tweetbench"


def test_step_summary_turns_seconds_into_a_millisecond_summary():
    seconds = [0.004, 0.001, 0.002, 0.003, 0.010]
    s = step_summary(seconds)
    assert isinstance(s, Summary)
    assert s.count == 5 and s.min == pytest.approx(1.0) and s.max == pytest.approx(10.0)
    assert s.p50 == pytest.approx(3.0) and s.mean == pytest.approx(4.0)
    assert s.p90 == pytest.approx(np.percentile([4, 1, 2, 3, 10], 90))
    assert s.stdev == pytest.approx(np.std([4, 1, 2, 3, 10], ddof=1)) and s.cv == pytest.approx(s.stdev / 4.0)
    assert s == Summary.from_samples([x * 1e3 for x in seconds])


@pytest.mark.parametrize("bad", [[], [0.001, float("nan")], [float("inf")]])
def test_step_summary_refuses_what_is_not_a_sample(bad):
    with pytest.raises(ValueError):
        step_summary(bad)


def _calls(path: Path) -> set[str]:
    """Every ``module.function`` called in a file (``statistics.median``, ``np.percentile``...)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {f"{node.func.value.id}.{node.func.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)}


SUMMARISING = {"statistics.median", "statistics.quantiles", "np.median", "np.percentile", "np.quantile", "np.mean",
               "Summary.from_samples"}


@pytest.mark.parametrize("module", ["scenarios/benchmark.py", "scenarios/metrics.py", "scenarios/dataparallel.py",
                                    "analysis/timers.py", "analysis/overlap.py"])
def test_the_scenarios_build_no_step_summary_of_their_own(module):
    # A step's median, percentiles and mean come from summary.step_summary; these modules read them from
    # there (or from the record that holds them) and never summarise step times themselves.
    assert not _calls(PACKAGE / module) & SUMMARISING


def test_the_trials_summarise_only_what_they_pool():
    # analysis/trials takes medians over trials (one figure per trial: statistics.median), never a step's.
    assert not _calls(PACKAGE / "analysis/trials.py") & (SUMMARISING - {"statistics.median"})
