"""The test-fault variable is read in one place, with typed fault points."""

from __future__ import annotations

import signal
import subprocess
import sys

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


def _process_fault_in_a_child(fault: str | None) -> subprocess.CompletedProcess[str]:
    """``process_fault(fault)`` in a fresh interpreter (one carried out would abort this one), then a last word."""
    code = f"from tweetbench import faults; faults.process_fault({fault!r}); print('carried on')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("fault", [None, faults.NAN, faults.BROKEN_KNOB, faults.BROKEN_OPEN, "oom-above-64"])
def test_other_faults_are_left_to_their_fault_point(fault: str | None) -> None:
    """A fault that is not the process's own (the loss turned to NaN, a broken knob, ...) is carried out at its
    own fault point: here the process carries on, silently."""
    done = _process_fault_in_a_child(fault)
    assert (done.returncode, done.stdout, done.stderr) == (0, "carried on\n", "")


def test_a_crash_fault_is_carried_out_at_once() -> None:
    """The same child, asked to crash: it aborts before its last word, saying so (the test above can fail)."""
    done = _process_fault_in_a_child("crash")
    assert done.returncode == -signal.SIGABRT and done.stdout == ""
    assert "tweetbench test fault: crashing on purpose" in done.stderr
