"""The run's SIGINT/SIGTERM handler on its own, with real signals sent to this process: the first asks for a clean
stop and kills the running worker, a second quits at once, and the previous handlers come back.
(``test_interrupt.py`` sends them to a whole ``tweetbench run``.)"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tweetbench.launch.interrupt import Interrupt
from tweetbench.launch.process import Worker

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def test_the_handler_is_on_only_inside_the_block() -> None:
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    with Interrupt() as interrupt:
        assert all(signal.getsignal(sig) == interrupt._handle for sig in SIGNALS)
        assert not interrupt.requested
    assert {sig: signal.getsignal(sig) for sig in SIGNALS} == before


@pytest.mark.parametrize("sig", SIGNALS)
def test_the_first_signal_asks_for_a_clean_stop_and_kills_the_running_worker(
        sig: signal.Signals, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Left alone, this worker would exit with code 1 once started (its job file does not exist).
    worker = Worker(tmp_path / "no-such.job.json", tmp_path / "cpu.log", lambda event: None)
    with Interrupt() as interrupt:
        interrupt.worker = worker
        signal.raise_signal(sig)
        assert interrupt.requested and interrupt.count == 1
        assert worker.wait(timeout=60) == -signal.SIGKILL
    assert capsys.readouterr().err == (f"tweetbench: {sig.name} received: stopping after saving what finished "
                                       "(press Ctrl-C again to quit at once)\n")


def test_a_second_signal_quits_at_once() -> None:
    with pytest.raises(KeyboardInterrupt), Interrupt() as interrupt:
        signal.raise_signal(signal.SIGINT)
        assert interrupt.requested  # the first one only asked
        assert signal.getsignal(signal.SIGTERM) == interrupt._handle  # so that the next line cannot end pytest
        signal.raise_signal(signal.SIGTERM)
        pytest.fail("the second signal did not stop the run")
    assert interrupt.count == 2
