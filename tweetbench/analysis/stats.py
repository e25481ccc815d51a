"""Every statistic tweetbench reports, derived from raw samples in this one place.

The harness keeps raw samples (step times, throughputs); records and reports call into this
module and never compute a mean, a percentile or an interval themselves. Five parts:

* ``Summary``: count, mean, stdev, CV and percentiles of one sample set.
* ``bootstrap_ci`` / ``median_with_ci``: confidence intervals for a median over trials.
* ``compare_samples`` / ``regression_exceeds``: do two sample sets differ? (``compare``'s per-step detail;
  its verdicts rest on the per-trial test in ``replication``)
* ``SteadyStateDetector`` / ``steady_start``: where warm-up ends and measurement begins.
* ``trials_disagree`` / ``is_noisy``: is a result too noisy to trust?
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np


def _scipy_stats() -> Any:
    # Imported on first use: a run that only summarises samples does not need scipy (the GPU check
    # machines come without it); intervals and comparisons do.
    from scipy import stats

    return stats

Verdict = Literal["faster", "slower", "no significant difference"]
VERDICTS: tuple[Verdict, ...] = ("faster", "slower", "no significant difference")

NOISY_CV = 0.05
"""A trial whose step-time CV exceeds this (5%) makes the result noisy."""

# Bootstrap resamples are drawn in chunks of about this many values, so memory stays bounded
# (~32 MiB of float64) however many samples a run keeps.
_BOOTSTRAP_CHUNK_VALUES = 1 << 22


def _as_samples(values: Iterable[float], name: str = "values") -> np.ndarray:
    """Return ``values`` as a 1-D float array; reject empty and non-finite input."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _stdev(arr: np.ndarray) -> float:
    return float(np.std(arr, ddof=1)) if arr.size >= 2 else 0.0


def _cv(arr: np.ndarray) -> float:
    mean = float(np.mean(arr))
    return _stdev(arr) / mean if mean != 0.0 else 0.0


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one sample set (e.g. the measured step times of one trial).

    ``stdev`` is the sample standard deviation (ddof=1, 0 for a single value); ``cv`` is
    ``stdev / mean`` (0 when the mean is 0); percentiles use numpy's linear interpolation.
    """

    count: int
    mean: float
    stdev: float
    cv: float
    min: float
    max: float
    p50: float
    p90: float
    p99: float

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"Summary needs count >= 1, got {self.count}")
        numbers = [getattr(self, k) for k in ("mean", "stdev", "cv", "min", "max", "p50", "p90", "p99")]
        if not all(math.isfinite(x) for x in numbers):
            raise ValueError(f"Summary has a non-finite field: {self}")
        if self.stdev < 0:
            raise ValueError(f"Summary stdev must be >= 0, got {self.stdev}")
        if not self.min <= self.p50 <= self.p90 <= self.p99 <= self.max:
            raise ValueError(f"Summary needs min <= p50 <= p90 <= p99 <= max: {self}")

    @classmethod
    def from_samples(cls, values: Sequence[float]) -> Summary:
        """Summarise raw samples; raise ``ValueError`` if they are empty or not all finite."""
        arr = _as_samples(values)
        p50, p90, p99 = (float(p) for p in np.percentile(arr, [50, 90, 99]))
        return cls(
            count=int(arr.size),
            mean=float(np.mean(arr)),
            stdev=_stdev(arr),
            cv=_cv(arr),
            min=float(np.min(arr)),
            max=float(np.max(arr)),
            p50=p50,
            p90=p90,
            p99=p99,
        )

    def to_dict(self) -> dict[str, float | int]:
        """The fields as plain Python numbers; ``Summary(**s.to_dict()) == s``."""
        return asdict(self)


# --------------------------------------------------------------------------- intervals


def _bootstrap_distribution(
    arr: np.ndarray,
    statistic: Callable[..., Any],
    n_resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``statistic`` of ``n_resamples`` resamples (with replacement) of ``arr``."""
    rows_per_chunk = max(1, _BOOTSTRAP_CHUNK_VALUES // arr.size)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_resamples)
        resamples = arr[rng.integers(0, arr.size, size=(stop - start, arr.size))]
        out[start:stop] = _apply_rowwise(statistic, resamples)
    return out


def _apply_rowwise(statistic: Callable[..., Any], rows: np.ndarray) -> np.ndarray:
    try:
        result = np.asarray(statistic(rows, axis=1), dtype=float)
        if result.shape == (rows.shape[0],):
            return result
    except TypeError:
        pass  # the statistic takes no ``axis``: fall back to one call per row
    return np.array([float(statistic(row)) for row in rows])


def _percentile_interval(distribution: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(distribution, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[..., Any] = np.median,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of ``statistic(values)``.

    Draws ``n_resamples`` resamples with replacement from a generator seeded with ``seed``, so
    the result is deterministic. ``statistic`` should accept ``axis=`` (as numpy reductions do)
    to be vectorised; other callables are applied per resample. One value gives ``(s, s)``.
    """
    arr = _as_samples(values)
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if arr.size == 1:
        point = float(statistic(arr))
        return point, point
    rng = np.random.default_rng(seed)
    return _percentile_interval(_bootstrap_distribution(arr, statistic, n_resamples, rng), confidence)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval and the method that produced it."""

    estimate: float
    low: float
    high: float
    method: str

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"Interval needs low <= high, got [{self.low}, {self.high}]")

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def _order_statistic_rank(n: int, confidence: float) -> int | None:
    """Largest 1-based rank k with P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2, or None."""
    ranks = np.arange(1, n // 2 + 1)
    ok = ranks[_scipy_stats().binom.cdf(ranks - 1, n, 0.5) <= (1.0 - confidence) / 2.0]
    return int(ok[-1]) if ok.size else None


def median_with_ci(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> Interval:
    """Median of ``values`` (e.g. per-trial medians) with a ``confidence`` interval.

    Methods, chosen by the number of values n:

    * **order-statistic (binomial)**, used whenever it can reach ``confidence`` (n >= 6 at 95%):
      the interval is ``[x(k), x(n-k+1)]`` of the sorted values, with k the largest rank such
      that ``P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2``. It is distribution-free and
      its coverage is exact and at least ``confidence`` for any continuous distribution; the
      achieved coverage is stated in ``method``.
    * **bootstrap-percentile** (``bootstrap_ci`` with ``seed``), for smaller n. No
      distribution-free interval reaches 95% with n <= 5, and this one does not either: for
      n = 2..5 it equals ``[min, max]``, whose coverage of the true median is
      ``1 - 2**(1-n)``: 50%, 75%, 87.5% and 93.75%. Treat it as a range, not a 95% interval.
    """
    arr = _as_samples(values)
    _check_confidence(confidence)
    estimate = float(np.median(arr))
    k = _order_statistic_rank(arr.size, confidence)
    if k is None:
        low, high = bootstrap_ci(arr, np.median, confidence, seed=seed)
        return Interval(estimate, low, high, f"bootstrap-percentile(n={arr.size})")
    ordered = np.sort(arr)
    coverage = 1.0 - 2.0 * float(_scipy_stats().binom.cdf(k - 1, arr.size, 0.5))
    method = f"order-statistic(binomial), x({k})..x({arr.size - k + 1}) of n={arr.size}, coverage {coverage:.1%}"
    return Interval(estimate, float(ordered[k - 1]), float(ordered[arr.size - k]), method)


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    """How run B compares with run A; see ``compare_samples`` for the rule."""

    ratio: float
    low: float
    high: float
    p_value: float
    verdict: Verdict
    method: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if not 0.0 <= self.p_value <= 1.0:
            raise ValueError(f"p_value must be in [0, 1], got {self.p_value}")

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def _ratio_ci(a: np.ndarray, b: np.ndarray, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(b) / median(a), resampling a and b independently."""
    rng_a, rng_b = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    medians_a = _bootstrap_distribution(a, np.median, 2000, rng_a)
    medians_b = _bootstrap_distribution(b, np.median, 2000, rng_b)
    return _percentile_interval(medians_b / medians_a, confidence)


def compare_samples(
    a: Sequence[float],
    b: Sequence[float],
    *,
    higher_is_better: bool,
    alpha: float = 0.05,
    min_effect: float = 0.01,
    seed: int = 0,
) -> Comparison:
    """Compare candidate ``b`` with the reference ``a`` (raw samples, all strictly positive).

    * ``ratio`` is ``median(b) / median(a)``.
    * ``[low, high]`` is its ``1 - alpha`` (95% by default) percentile-bootstrap interval:
      2000 resampled medians of a and of b, drawn independently, divided pairwise.
    * ``p_value`` is the two-sided Mann-Whitney U test of a against b.

    The difference is significant iff ``p_value < alpha`` AND the ratio interval excludes 1.0
    (on the same side as ``ratio``) AND ``|ratio - 1| >= min_effect``. A significant ratio
    above 1 is "slower" when lower is better (step times) and "faster" when higher is better
    (throughput), and the other way round below 1. Otherwise the verdict is
    "no significant difference".
    """
    a_arr, b_arr = _as_samples(a, "a"), _as_samples(b, "b")
    if np.any(a_arr <= 0) or np.any(b_arr <= 0):
        raise ValueError("compare_samples needs strictly positive samples (times or rates)")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    ratio = float(np.median(b_arr) / np.median(a_arr))
    low, high = _ratio_ci(a_arr, b_arr, 1.0 - alpha, seed)
    p_value = float(_scipy_stats().mannwhitneyu(a_arr, b_arr, alternative="two-sided").pvalue)
    if math.isnan(p_value):  # degenerate input (all values tied): nothing to distinguish
        p_value = 1.0
    verdict = _verdict(ratio, low, high, p_value, alpha, min_effect, higher_is_better)
    method = (
        f"ratio of medians b/a with {1 - alpha:.0%} bootstrap-percentile CI (2000 resamples each, "
        f"independent); two-sided Mann-Whitney U; significant iff p < {alpha:g}, CI excludes 1 "
        f"and |ratio-1| >= {min_effect:.1%}"
    )
    return Comparison(ratio, low, high, p_value, verdict, method)


def _verdict(
    ratio: float,
    low: float,
    high: float,
    p_value: float,
    alpha: float,
    min_effect: float,
    higher_is_better: bool,
) -> Verdict:
    excludes_one = (low > 1.0 and ratio > 1.0) or (high < 1.0 and ratio < 1.0)
    if not (p_value < alpha and excludes_one and abs(ratio - 1.0) >= min_effect):
        return "no significant difference"
    b_is_higher = ratio > 1.0
    return "faster" if b_is_higher == higher_is_better else "slower"


def regression_exceeds(c: Comparison, bound: float, *, higher_is_better: bool) -> bool:
    """True iff ``c`` is a significant slowdown larger than ``bound`` (0.05 = 5%).

    The slowdown is ``ratio - 1`` when lower is better and ``1 - ratio`` when higher is
    better. ``higher_is_better`` must be the value ``c`` was computed with.
    """
    if c.verdict != "slower":
        return False
    slowdown = (1.0 - c.ratio) if higher_is_better else (c.ratio - 1.0)
    if slowdown <= 0.0:
        raise ValueError(
            f"a 'slower' comparison with ratio {c.ratio:.4g} cannot have higher_is_better={higher_is_better}"
        )
    return slowdown > bound


# --------------------------------------------------------------------------- steady state


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
        return _cv(np.fromiter(self._recent, dtype=float)) <= self.cv_threshold

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


# --------------------------------------------------------------------------- noise


def trials_disagree(intervals: Sequence[tuple[float, float]]) -> bool:
    """True if some pair of per-trial ``(low, high)`` intervals does not overlap.

    Intervals on a line overlap pairwise iff the largest low is <= the smallest high;
    touching ends count as overlapping.
    """
    for low, high in intervals:
        if not low <= high:
            raise ValueError(f"interval needs low <= high, got ({low}, {high})")
    if len(intervals) < 2:
        return False
    return max(low for low, _ in intervals) > min(high for _, high in intervals)


def is_noisy(
    per_trial_cv: Sequence[float],
    per_trial_intervals: Sequence[tuple[float, float]],
) -> tuple[bool, list[str]]:
    """Whether a result is too noisy to trust, with one reason per problem found.

    Noisy if any trial's CV exceeds ``NOISY_CV`` or the per-trial intervals disagree
    (``trials_disagree``). Trials are numbered from 1 in the reasons.
    """
    reasons = [
        f"trial {i} CV {cv:.1%} > {NOISY_CV:.0%}"
        for i, cv in enumerate(per_trial_cv, start=1)
        if cv > NOISY_CV
    ]
    if trials_disagree(per_trial_intervals):
        reasons.append(_disagreement_reason(per_trial_intervals))
    return bool(reasons), reasons


def _disagreement_reason(intervals: Sequence[tuple[float, float]]) -> str:
    hi_low = max(range(len(intervals)), key=lambda i: intervals[i][0])
    lo_high = min(range(len(intervals)), key=lambda i: intervals[i][1])
    first, second = sorted((hi_low, lo_high))
    a, b = intervals[first], intervals[second]
    return (
        f"trials disagree beyond their intervals: trial {first + 1} [{a[0]:.4g}, {a[1]:.4g}] "
        f"vs trial {second + 1} [{b[0]:.4g}, {b[1]:.4g}]"
    )
