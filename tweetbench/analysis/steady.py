"""Where warm-up ends and measurement begins: the steady-state rule, online and offline."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tweetbench.analysis.summary import sample_cv


@dataclass
class SteadyStateDetector:
    """Online detector of the end of warm-up, fed one step time at a time.

    Rule: warm-up ends after the first step n such that n >= ``min_warmup`` and the CV
    (ddof=1) of the last ``window`` step times is <= ``cv_threshold``, or after step
    ``max_warmup`` (the cap), whichever comes first. All n steps seen by then are warm-up and
    are discarded; measurement starts with the next step, so the samples that passed the
    stability test are never reused as measurements.
    """

    window: int = 10
    cv_threshold: float = 0.10
    min_warmup: int = 3
    max_warmup: int = 100
    _recent: deque[float] = field(init=False, repr=False)
    _seen: int = field(default=0, init=False, repr=False)
    _warmup_steps: int | None = field(default=None, init=False, repr=False)
    _capped: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        if not self.cv_threshold > 0:
            raise ValueError(f"cv_threshold must be > 0, got {self.cv_threshold}")
        if self.min_warmup < 0:
            raise ValueError(f"min_warmup must be >= 0, got {self.min_warmup}")
        if self.max_warmup < max(self.window, self.min_warmup):
            raise ValueError(
                f"max_warmup ({self.max_warmup}) must be >= window ({self.window}) and "
                f"min_warmup ({self.min_warmup}), or the CV rule could never fire"
            )
        self._recent = deque(maxlen=self.window)

    def observe(self, step_seconds: float) -> bool:
        """Record one step time; return True once warm-up has ended (and from then on)."""
        if not (math.isfinite(step_seconds) and step_seconds >= 0):
            raise ValueError(f"step time must be finite and >= 0, got {step_seconds}")
        if self._warmup_steps is not None:
            return True
        self._recent.append(float(step_seconds))
        self._seen += 1
        if self._window_is_steady():
            self._warmup_steps = self._seen
        elif self._seen >= self.max_warmup:
            self._warmup_steps, self._capped = self._seen, True
        return self._warmup_steps is not None

    def _window_is_steady(self) -> bool:
        if self._seen < self.min_warmup or len(self._recent) < self.window:
            return False
        return sample_cv(np.fromiter(self._recent, dtype=float)) <= self.cv_threshold

    @property
    def warmup_steps(self) -> int | None:
        """Number of warm-up steps used, or None while warm-up is still going on."""
        return self._warmup_steps

    @property
    def capped(self) -> bool:
        """True if warm-up ended at ``max_warmup`` without the step times settling."""
        return self._capped

    @property
    def rule(self) -> str:
        """The rule in words, for reports."""
        return (
            f"CV of last {self.window} steps <= {self.cv_threshold:.0%} "
            f"after >= {self.min_warmup} steps, cap {self.max_warmup}"
        )


def steady_start(
    samples: Sequence[float],
    *,
    window: int = SteadyStateDetector.window,
    cv_threshold: float = SteadyStateDetector.cv_threshold,
    min_warmup: int = SteadyStateDetector.min_warmup,
    max_warmup: int = SteadyStateDetector.max_warmup,
) -> tuple[int, bool]:
    """Offline ``SteadyStateDetector``: ``(index where measurement starts, capped)``.

    ``samples[index:]`` are the measured steps. Raises ``ValueError`` if the samples end
    before the rule has decided (they neither settled nor reached ``max_warmup``).
    """
    detector = SteadyStateDetector(window, cv_threshold, min_warmup, max_warmup)
    for x in samples:
        if detector.observe(x):
            assert detector.warmup_steps is not None
            return detector.warmup_steps, detector.capped
    raise ValueError(f"{len(samples)} step times end before warm-up ended ({detector.rule})")
