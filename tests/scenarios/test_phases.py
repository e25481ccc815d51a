"""Device memory is read and its peak reset per phase, so that each phase's figure is its own."""

from __future__ import annotations

from typing import Any

from tweetbench.devices import DeviceSpec
from tweetbench.devices.cpu import CPUBackend
from tweetbench.scenarios.benchmark import _phase_memory


class PeakTrackingCPU(CPUBackend):
    """The CPU backend with a peak-memory window of its own, as CUDA keeps one."""

    def __init__(self) -> None:
        super().__init__(DeviceSpec("cpu"))
        self.calls: list[str] = []
        self.peak = 0

    def allocate(self, nbytes: int) -> None:
        self.peak = max(self.peak, nbytes)

    def reset_peak_memory(self) -> None:
        self.calls.append("reset")
        self.peak = 0

    def memory(self) -> dict[str, Any]:
        self.calls.append("read")
        return {"peak_bytes": self.peak}


def test_each_phase_reads_its_own_peak_then_starts_a_new_window() -> None:
    backend = PeakTrackingCPU()
    backend.reset_peak_memory()
    backend.allocate(900)  # training
    phases = {"training": _phase_memory(backend)}
    backend.allocate(100)  # batch-1 inference
    phases["inference_batch1"] = _phase_memory(backend)
    backend.allocate(400)  # batched inference
    phases["inference_offline"] = _phase_memory(backend)
    assert phases == {"training": {"peak_bytes": 900}, "inference_batch1": {"peak_bytes": 100},
                      "inference_offline": {"peak_bytes": 400}}
    assert backend.calls == ["reset", "read", "reset", "read", "reset", "read", "reset"]
