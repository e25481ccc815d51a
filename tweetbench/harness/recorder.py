"""The step recorder: a Lightning callback that records whole-step times off the synchronised wall clock.

Each sample is the interval between two consecutive batch ends, read after the device has been
synchronised, so it covers a whole step: fetching the batch, copying it, forward, backward and
the optimizer. Warm-up steps are recorded apart from the measured ones.

Every measured window is probed for interference (``harness/interference.py``: the CPU that other
processes took while it ran) and, with ``time_bound`` (the benchmark's single-process windows), bounded
in time: past ``window_cap`` it is cut short, and the record says so and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl

from tweetbench.analysis.steady import SteadyStateDetector
from tweetbench.devices import DeviceBackend
from tweetbench.devices.clock import DeviceClock
from tweetbench.harness.interference import WINDOW_CAP_FACTOR, CpuProbe, interference_section, window_cap

ProgressFn = Callable[[int], None]


class WindowCut(Exception):
    """Raised from a predict batch's end to end ``Trainer.predict`` early (its loop has no ``should_stop``)."""


def own_clock(clock: DeviceClock) -> DeviceClock | None:
    """``clock`` where it is the device's own (worth recording beside the wall clock), else None."""
    return clock if clock.on_device else None


class StepRecorder(pl.Callback):
    """Records whole-step times; stops training once ``measured_steps`` have been measured.

    With a ``detector`` the measured window opens once step time has settled (the detector's
    rule); with ``warmup_steps`` it opens after that fixed number of steps. Warm-up steps are
    always synchronised one by one.

    With ``overlap`` the measured window keeps the overlap of host and device: the device is
    synchronised only at the window's two ends, so the host queues step N+1 while the device runs
    step N, and throughput is the window's samples over its synchronised wall time
    (``measured_seconds``). The per-step times are then the device clock's where it has one, else
    the host's. ``synced_steps`` more steps follow, each synchronised (``synced``): the figure
    without overlap, so that the report can give the overlap gain.
    """

    def __init__(
        self,
        synchronize: Callable[[], None],
        measured_steps: int,
        *,
        detector: SteadyStateDetector | None = None,
        warmup_steps: int = 0,
        on_step: ProgressFn | None = None,
        on_measure_start: Callable[[], None] | None = None,
        on_measure_end: Callable[[], Mapping[str, Any] | None] | None = None,
        device_clock: DeviceClock | None = None,
        overlap: bool = False,
        synced_steps: int = 0,
        step_boundary: Callable[[], None] | None = None,
        time_bound: bool = False,
    ) -> None:
        self.synchronize = synchronize
        # What ends a step inside an overlapped window without waiting (XLA: a graph cut).
        self.step_boundary = step_boundary
        # The device's own clock (CUDA events), marked at the same points as the wall clock.
        self.device_clock = device_clock
        self._marks: list[object] = []
        self._open_mark = 0
        self.measured_steps = measured_steps
        self.detector, self.fixed_warmup = detector, warmup_steps
        self.on_step = on_step
        self.on_measure_start, self.on_measure_end = on_measure_start, on_measure_end
        # What on_measure_end returned (e.g. the device's counters over the measured window).
        self.window: dict[str, Any] = {}
        self.warmup: list[float] = []
        self.measured: list[float] = []
        self.overlap = overlap
        self.synced_steps = synced_steps if overlap else 0
        # The steps after the overlapped window, each synchronised.
        self.synced: list[float] = []
        self.measure_started_at: float | None = None
        self.measure_ended_at: float | None = None
        # perf_counter() at the end of the first step (synchronised): compile included, on XLA.
        self.first_step_at: float | None = None
        self._last: float | None = None
        self._measuring = detector is None and warmup_steps == 0
        # CPU taken by other processes during the measured window, and during the synced steps after it.
        self.cpu, self.after = CpuProbe(), CpuProbe()
        # With ``time_bound``, the window's bound in seconds (set once a step's time is known) and, if it was
        # hit, what happened. Off by default: a rank of a data-parallel job that stopped alone would hang the
        # others, and the profiled passes expect their steps.
        self.time_bound = time_bound
        self.cap_s: float | None = None
        self.cut_short: str | None = None

    # -- the clock -------------------------------------------------------------------------------
    def _mark(self) -> None:
        if self.device_clock is not None:
            self._marks.append(self.device_clock.mark())

    def _start(self) -> None:
        self._mark()
        self.synchronize()
        self._last = time.perf_counter()
        if self._measuring:
            self._open_window(self._last)

    def _open_window(self, now: float) -> None:
        self._measuring = True
        if self.on_measure_start is not None:
            self.on_measure_start()
            # Starting samplers belongs to no step: the first measured step starts after the hook.
            # (The device was synchronised just before it, and the hook queues no device work.)
            self._mark()
            now = self._last = time.perf_counter()
        self.measure_started_at = now
        self._open_mark = max(len(self._marks) - 1, 0)
        if self.warmup and self.time_bound:
            self.cap_s = window_cap(self.warmup, self.measured_steps + self.synced_steps)
        self.cpu.start()

    def _in_overlap(self) -> bool:
        return self._measuring and self.overlap and len(self.measured) < self.measured_steps

    def _tick(self, trainer: pl.Trainer | None) -> None:
        self._mark()
        if not self._in_overlap() or len(self.measured) + 1 == self.measured_steps:
            self.synchronize()  # inside an overlapped window only its last step waits for the device
        elif self.step_boundary is not None:
            self.step_boundary()
        now = time.perf_counter()
        assert self._last is not None
        step = now - self._last
        self._last = now
        if self.first_step_at is None:
            self.first_step_at = now
        if self._measuring:
            self._measured_step(step, now, trainer)
            self._bound(now, trainer)
        else:
            self.warmup.append(step)
            settled = (
                self.detector.observe(step) if self.detector is not None else len(self.warmup) >= self.fixed_warmup
            )
            if settled:
                self._open_window(now)
        if self.on_step is not None:
            self.on_step(len(self.warmup) + len(self.measured) + len(self.synced))

    def _measured_step(self, step: float, now: float, trainer: pl.Trainer | None) -> None:
        if self.cap_s is None and self.time_bound:
            self.cap_s = window_cap([step], self.measured_steps + self.synced_steps)
        if len(self.measured) < self.measured_steps:
            self.measured.append(step)
            if len(self.measured) == self.measured_steps:
                self._close_window(now)
        else:
            self.synced.append(step)
        if self.done:
            self.after.stop()
            if trainer is not None:
                trainer.should_stop = True

    def _close_window(self, now: float) -> None:
        self.measure_ended_at = now
        self.cpu.stop()
        if self.on_measure_end is not None:
            self.window = dict(self.on_measure_end() or {})
        self.after.start()

    def _bound(self, now: float, trainer: pl.Trainer | None) -> None:
        """Cut the window (and the synced steps) short once it has run past its cap; say so and why."""
        assert self.measure_started_at is not None
        elapsed = now - self.measure_started_at
        if self.done or not self.time_bound or self.cap_s is None or elapsed <= self.cap_s:
            return
        planned, synced = self.measured_steps, self.synced_steps
        if len(self.measured) < self.measured_steps:
            if self.overlap:  # an overlapped step did not wait for the device: wait now, and charge it to that step
                self.synchronize()
                waited = time.perf_counter()
                self.measured[-1] += waited - now
                now = waited
            self.measured_steps = len(self.measured)
            self._close_window(now)
        self.synced_steps = len(self.synced)
        self.after.stop()
        self.cut_short = (f"cut short after {elapsed:.1f} s, past its bound of {self.cap_s:.1f} s "
                          f"({WINDOW_CAP_FACTOR:g}x the first steps' median x {planned + synced} steps): "
                          f"{len(self.measured)} of {planned} measured steps"
                          + (f" and {len(self.synced)} of {synced} synced steps" if synced else ""))
        if trainer is not None:
            trainer.should_stop = True

    def interference(self, step_seconds: list[float] | None = None) -> dict[str, Any]:
        """The measured window's ``interference`` section (and its synced steps' under ``after_window``)."""
        section = interference_section(self.cpu.result(), self.measured if step_seconds is None else step_seconds,
                                       self.measured_seconds, self.cut_short)
        if self.synced:
            section["after_window"] = interference_section(self.after.result(), self.synced, sum(self.synced))
        return section

    def device_intervals(self) -> tuple[list[float], list[float]] | None:
        """(warm-up, measured) step times by the device's own clock, or None without one.

        Call it after the last step: reading the clock waits for the device.
        """
        if self.device_clock is None:
            return None
        intervals = self.device_clock.intervals(self._marks)
        measured = intervals[self._open_mark:self._open_mark + len(self.measured)]
        return intervals[:len(self.warmup)], measured

    def synchronised_pairs(self) -> tuple[list[float], list[float]] | None:
        """(host, device) seconds of the measured steps synchronised one by one, or None without a device clock.

        Those are the synced steps after an overlapped window, or every step of a window without overlap:
        on them both clocks span the same work (inside an overlapped window the host's marks show dispatch).
        """
        if self.device_clock is None:
            return None
        intervals = self.device_clock.intervals(self._marks)
        start = self._open_mark + (len(self.measured) if self.overlap else 0)
        host = self.synced if self.overlap else self.measured
        return list(host), intervals[start:start + len(host)]

    @property
    def device_source(self) -> str | None:
        """What the device clock is (``cuda-events``), or None without one."""
        return None if self.device_clock is None else self.device_clock.source

    @property
    def done(self) -> bool:
        return len(self.measured) >= self.measured_steps and len(self.synced) >= self.synced_steps

    @property
    def measured_seconds(self) -> float:
        if self.measure_started_at is None or self.measure_ended_at is None:
            return float(sum(self.measured))
        return self.measure_ended_at - self.measure_started_at

    # -- Lightning hooks -------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._tick(trainer)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start()

    def on_predict_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._tick(None)
        if self.cut_short and self.done:
            raise WindowCut(self.cut_short)

    # -- for loops outside Lightning (the bare-PyTorch side of the overhead comparison) ---------------------------------
    def start(self) -> None:
        self._start()

    def tick(self) -> None:
        self._tick(None)


@dataclass(kw_only=True)
class RecordedWindow:
    """What a timed pass (training, inference) keeps of its measured window beside the per-step times."""

    # What the device counted during the window (``DeviceBackend.end_measurement``).
    device_counters: dict[str, Any] = field(default_factory=dict)
    # What the device's own timer is (CUDA events), where it has one.
    device_timer: str | None = None
    # The overlapped window's synchronised wall time (throughput's denominator).
    window_seconds: float = 0.0
    # The steps after the window, each synchronised: the throughput without host/device overlap.
    synced_seconds: list[float] = field(default_factory=list)
    # What other processes took while the window ran, its stalls, and whether it was cut short.
    interference: dict[str, Any] = field(default_factory=dict)
    # (host, device) seconds of the steps synchronised one by one, where the device has its own clock,
    # and what the device's clock is: the timer-agreement check (analysis/timers.py).
    timer_pairs: tuple[list[float], list[float]] | None = None
    clock_source: str = "host perf_counter"
    # The device runs each op before it returns (DeviceBackend.synchronous): no overlap gain applies.
    synchronous: bool = False


def recorded_window(recorder: StepRecorder, backend: DeviceBackend, step_seconds: list[float]) -> dict[str, Any]:
    """The ``RecordedWindow`` fields of a pass that ``recorder`` timed on ``backend``, once it has ended;
    ``step_seconds``: the measured steps as reported (the device's own times where it has a clock)."""
    return {"device_counters": recorder.window, "device_timer": recorder.device_source,
            "window_seconds": recorder.measured_seconds, "synced_seconds": recorder.synced,
            "interference": recorder.interference(step_seconds), "timer_pairs": recorder.synchronised_pairs(),
            "clock_source": backend.clock().source, "synchronous": backend.synchronous}
