"""Folding Lightning's wrapper frames into their callers, on a synthetic pstats-like table."""

import pytest

from tweetbench.analysis.functions import LOOP, fold_wrappers, is_wrapper, top_working_functions

PL = "/venv/lib/python3.11/site-packages/pytorch_lightning/loops/optimization/automatic.py"
OPTIM = "/venv/lib/python3.11/site-packages/torch/optim/optimizer.py"
ADAM = "/venv/lib/python3.11/site-packages/torch/optim/adam.py"
MODULE = "/work/tweetbench/workload/module.py"
LOOP_RUN = (PL, 163, "run")
STEP_WRAPPER = (OPTIM, 480, "wrapper")
ADAM_STEP = (ADAM, 213, "step")
SINGLE = (ADAM, 345, "_single_tensor_adam")
TRAINING_STEP = (MODULE, 40, "training_step")
LSTM = ("~", 0, "<built-in method torch.lstm>")


def table():
    """pstats' shape: key -> (primitive calls, calls, own s, cumulative s, {caller: (cc, nc, own s, cum s)})."""
    return {
        LOOP_RUN: (3, 3, 0.3, 10.0, {}),
        TRAINING_STEP: (3, 3, 0.1, 4.1, {LOOP_RUN: (3, 3, 0.1, 4.1)}),
        LSTM: (3, 3, 4.0, 4.0, {TRAINING_STEP: (3, 3, 4.0, 4.0)}),
        STEP_WRAPPER: (3, 3, 0.6, 5.6, {LOOP_RUN: (3, 3, 0.6, 5.6)}),
        ADAM_STEP: (3, 3, 0.2, 5.0, {STEP_WRAPPER: (3, 3, 0.2, 5.0)}),
        SINGLE: (3, 3, 4.8, 4.8, {ADAM_STEP: (3, 3, 4.8, 4.8)}),
    }


def test_wrappers_are_lightning_and_the_optimizer_decorators():
    assert is_wrapper(LOOP_RUN) and is_wrapper(STEP_WRAPPER)
    assert not any(is_wrapper(k) for k in (ADAM_STEP, SINGLE, TRAINING_STEP, LSTM))
    assert is_wrapper(("/x/torch/nn/modules/module.py", 1, "_call_impl"))
    assert not is_wrapper(("/x/torch/nn/modules/module.py", 1, "__getattr__"))


def test_a_wrapper_own_time_goes_to_its_non_wrapper_callers_and_nothing_is_lost():
    rows = fold_wrappers(table())
    assert LOOP_RUN not in rows and STEP_WRAPPER not in rows
    # The optimizer wrapper is called by Lightning's loop only, which has no caller: both fold into LOOP.
    assert rows[LOOP]["own_s"] == pytest.approx(0.9)
    assert rows[ADAM_STEP]["own_s"] == pytest.approx(0.2) and rows[ADAM_STEP]["folded_s"] == 0
    assert sum(r["own_s"] for r in rows.values()) == pytest.approx(sum(v[2] for v in table().values()))


def test_a_wrapper_between_two_callers_is_shared_by_its_own_time_from_each():
    wrapped = (PL, 10, "_call_lightning_module_hook")
    stats = {
        TRAINING_STEP: (2, 2, 0.1, 1.0, {}),
        ADAM_STEP: (1, 1, 0.1, 1.0, {}),
        wrapped: (3, 3, 0.9, 1.5, {TRAINING_STEP: (2, 2, 0.6, 1.0), ADAM_STEP: (1, 1, 0.3, 0.5)}),
    }
    rows = fold_wrappers(stats)
    assert rows[TRAINING_STEP]["folded_s"] == pytest.approx(0.6)
    assert rows[ADAM_STEP]["folded_s"] == pytest.approx(0.3)


def test_top_functions_are_the_ones_doing_work_by_own_time_per_step():
    rows = top_working_functions(table(), limit=3, steps=3)
    assert [r["function"] for r in rows] == ["optim/adam.py:345(_single_tensor_adam)", "<built-in method torch.lstm>",
                                             LOOP[2]]
    assert rows[0]["own_ms_per_step"] == pytest.approx(1600)
    assert all("automatic.py" not in r["function"] and "optimizer.py" not in r["function"] for r in rows)
