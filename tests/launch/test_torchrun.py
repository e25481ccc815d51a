"""A rank that torchrun started, in-process: its progress events, its SIGTERM, its refusals, and rank 0 writing
the run when its own part fails (the full two-rank launch is the slow test in test_distributed.py)."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tweetbench.config import WORKLOADS, DataSource, get_preset
from tweetbench.devices import DeviceSpec, parse_device_list
from tweetbench.errors import UsageError
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.launch import torchrun
from tweetbench.launch.options import RunOptions
from tweetbench.records import read_result

TORCHRUN_RANK0 = {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0"}


def _options(devices: tuple[DeviceSpec, ...], out: Path, data: DataSource = DataSource()) -> RunOptions:
    return RunOptions(devices=devices, workload=WORKLOADS["tiny"], preset=get_preset("smoke"), out=out,
                      command=("tweetbench", "run"), data=data, strategy="ddp")


def _launched() -> Any:
    """Rank 0 of two, as torchrun's environment says (read the way ``run_launched``'s caller reads it)."""
    return torchrun.LaunchEnv.detect(TORCHRUN_RANK0)


def test_the_event_stream_turns_each_event_line_into_a_call_and_drops_the_rest() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    stream = torchrun._EventStream("cpu:2", lambda device, event: seen.append((device, event)))
    emitted = io.StringIO()
    progress = ProgressEmitter(emitted)
    progress.start_phase("train", 3)
    progress.step(1)
    text = "Lightning says hello\n" + emitted.getvalue() + "@tweetbench {not json\n"
    assert stream.write(text) == len(text)
    assert seen == [("cpu:2", {"event": "phase", "name": "train", "total": 3}),
                    ("cpu:2", {"event": "step", "name": "train", "done": 1})]


def test_sigterm_inside_a_rank_is_an_exception_that_names_the_other_ranks_and_the_handler_is_put_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(torchrun._Terminated, match="another rank failed"), torchrun._sigterm_raises():
        assert signal.getsignal(signal.SIGTERM) is not before
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("devices", [(DeviceSpec("cpu"),),
                                     (DeviceSpec("cpu", count=2), DeviceSpec("xla-cpu", count=2))])
def test_a_launched_run_needs_exactly_one_device_count(devices: tuple[DeviceSpec, ...], tmp_path: Path) -> None:
    options = _options(devices, tmp_path / "results")
    with pytest.raises(UsageError, match="under torchrun, give exactly one device count, e.g. --devices gpu:8"):
        torchrun.run_launched(options, _launched(), lambda device, event: None)
    assert not (tmp_path / "results").exists()


def test_rank0_writes_a_failed_run_when_its_own_part_fails_and_runs_no_reference(tmp_path: Path) -> None:
    """Rank 0's data cannot be read: its part fails before any collective, and the run says so in its record."""
    events: list[tuple[str, str]] = []
    (spec,) = parse_device_list("cpu:2", counted=True)
    options = _options((spec,), tmp_path / "results", DataSource(path=tmp_path / "no-such-tweets.csv"))
    outcome = torchrun.run_launched(options, _launched(), lambda device, event: events.append((device,
                                                                                                event["event"])))
    assert outcome is not None and outcome.complete and outcome.exit_code == 1
    assert events == [("cpu:2", "device-start"), ("cpu:2", "device-end")]  # no single-device reference ran
    (result,) = outcome.results
    reason = result.to_dict()["reason"]
    assert result.status == "failed" and reason.startswith("rank 0 failed: DataError: ") and "no-such-tweets" in reason
    assert read_result(outcome.run_dir / f"{spec.file_stem}.json").to_dict() == result.to_dict()
    meta = json.loads((outcome.run_dir / "run.json").read_text())
    assert (meta["status"], meta["devices"]) == ("complete", ["cpu:2"])
    assert (outcome.run_dir / "report.md").is_file()
