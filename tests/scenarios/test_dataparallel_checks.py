"""The data-parallel record's validity check fails where one rank's loss went NaN (issue 22, part 5)."""

from types import SimpleNamespace

from tweetbench.config import ParallelPlan
from tweetbench.scenarios import dataparallel


def rank(losses):
    return SimpleNamespace(step_s=[0.01] * 4, losses=losses, non_pad_tokens=100, time_to_first_step_s=1.0,
                           warmup_s=[0.02], warmup_rule="fixed", warmup_capped=False)


def test_a_nan_loss_on_any_rank_is_found_at_its_step():
    plan = ParallelPlan("ddp", 2)
    training = dataparallel._training(16, plan, [rank([1.0, 0.9, 0.8, 0.7]), rank([1.0, 0.9, None, None])])
    assert training["non_finite_loss_step"] == 3
    quiet = dataparallel._training(16, plan, [rank([1.0, 0.9, 0.8, 0.7])] * 2)
    assert quiet["non_finite_loss_step"] is None


def test_the_rank0_outcome_is_invalid_when_a_rank_went_non_finite(monkeypatch):
    monkeypatch.setattr(dataparallel, "distributed_metrics",
                        lambda job, runs: ({"training": {"non_finite_loss_step": 3}}, {}))
    monkeypatch.setattr(dataparallel, "merged_breakdown", lambda runs, distributed: None)
    outcome = dataparallel._rank0_outcome(None, [], dataparallel.Outcome())  # type: ignore[arg-type]
    assert outcome.status == "invalid" and "step 3 on some rank" in outcome.reason
