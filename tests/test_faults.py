"""The test-fault variable is read in one place, with typed fault points."""

from __future__ import annotations

import pytest

from tweetbench import faults
from tweetbench.errors import UsageError

ENV = {faults.FAULT_ENV: "cpu:crash, gpu:1:nan,rank1:hang,xla-cpu:oom-above-64"}


def test_each_fault_point_reads_only_its_own_target() -> None:
    assert faults.device_fault("cpu", ENV) == "crash"
    assert faults.device_fault("gpu", ENV) is None
    assert faults.rank_fault(1, ENV) == "hang"
    assert faults.rank_fault(0, ENV) is None
    assert faults.memory_cap("xla-cpu", ENV) == 64
    assert faults.memory_cap("cpu", ENV) is None


def test_no_variable_means_no_fault() -> None:
    assert faults.device_fault("cpu", {}) is None
    assert faults.rank_fault(0, {}) is None
    assert faults.memory_cap("cpu", {}) is None


def test_a_bad_memory_cap_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="write cpu:oom-above-N"):
        faults.memory_cap("cpu", {faults.FAULT_ENV: "cpu:oom-above-lots"})


def test_a_rank_fault_fires_only_at_its_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.FAULT_ENV, "rank1:crash")
    faults.rank_batch_fault(1, faults.RANK_FAULT_BATCH - 1)
    faults.rank_batch_fault(0, faults.RANK_FAULT_BATCH)
    with pytest.raises(RuntimeError, match="rank 1 crashing on purpose"):
        faults.rank_batch_fault(1, faults.RANK_FAULT_BATCH)


def test_other_faults_are_left_to_their_fault_point() -> None:
    faults.process_fault(None)
    faults.process_fault(faults.NAN)  # the module turns the loss to NaN; the process carries on
