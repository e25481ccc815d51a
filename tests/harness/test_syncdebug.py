"""The sync-debug pass (harness/syncdebug.py): counting and naming synchronising calls; on the CPU it runs the
steps and says the check does not apply. The real CUDA check is in tests/devices/test_cuda.py."""

from __future__ import annotations

import os
import traceback
import warnings

import torch

from tweetbench.config import WORKLOADS
from tweetbench.devices import DeviceSpec, create_backend
from tweetbench.devices.cpu import CPUBackend
from tweetbench.harness.syncdebug import SyncCounter, SyncDebugConfig, call_site, summary_lines, sync_debug_pass
from tweetbench.workload.module import TweetClassifier

SYNC = "called a synchronizing CUDA operation"


def fake_item() -> None:
    warnings.warn(SYNC, UserWarning, stacklevel=1)


def test_each_synchronising_call_is_counted_by_its_site_and_other_warnings_are_not():
    with SyncCounter() as counter:
        for _ in range(3):
            fake_item()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.warn("an unrelated warning", UserWarning, stacklevel=1)
    assert counter.total == 3
    (site,) = counter.sites
    assert site.startswith(os.path.join("tests", "harness", "test_syncdebug.py")) and site.endswith("in fake_item")
    assert counter.messages[site] == SYNC


def test_the_site_is_the_first_frame_outside_torch():
    torch_file = os.path.join(os.path.dirname(torch.__file__), "_tensor.py")
    stack = [traceback.FrameSummary("/x/site-packages/pytorch_lightning/loops/loop.py", 12, "advance"),
             traceback.FrameSummary(torch_file, 40, "item")]
    assert call_site(stack) == "pytorch_lightning/loops/loop.py:12 in advance"
    assert call_site([traceback.FrameSummary(torch_file, 40, "item")]) == "inside torch (no Python caller)"


def test_on_the_cpu_the_steps_run_and_the_check_does_not_apply():
    backend = create_backend(DeviceSpec("cpu"))
    result = sync_debug_pass(backend, WORKLOADS["tiny"], "32-true", SyncDebugConfig(warmup_steps=2, measured_steps=3))
    assert result["steps_run"] == 5 and not result["applicable"] and result["verdict"] == "not applicable"
    assert "sync-debug mode is CUDA's" in result["reason"]
    assert sync_debug_pass(backend, WORKLOADS["tiny"], "32-tf32")["reason"].startswith("unsupported")


class _DebuggableCPU(CPUBackend):
    """A CPU backend with a sync-debug switch, so that the counting path runs without a GPU."""

    debug = False

    def set_sync_debug(self, on: bool) -> None:
        _DebuggableCPU.debug = on


def test_a_hidden_sync_in_the_measured_steps_fails_the_pass_and_is_named(monkeypatch):
    original = TweetClassifier.training_step

    def training_step(self, batch, batch_idx):  # an .item() in every step, as a careless loss log would do
        if _DebuggableCPU.debug:
            warnings.warn(SYNC, UserWarning, stacklevel=1)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(TweetClassifier, "training_step", training_step)
    result = sync_debug_pass(_DebuggableCPU(DeviceSpec("cpu")), WORKLOADS["tiny"], "32-true",
                             SyncDebugConfig(warmup_steps=2, measured_steps=4))
    assert result["applicable"] and result["steps_run"] == 6
    # The step after warm-up opens the window at its start: 4 measured steps, none of the warm-up ones.
    assert result["sync_calls"] == 4 and result["verdict"].startswith("fail: 4 synchronising call(s) in 4 steps")
    assert result["sites"][0]["site"].endswith("in training_step") and not _DebuggableCPU.debug
    assert "4 x tests" in summary_lines(result)[1]
