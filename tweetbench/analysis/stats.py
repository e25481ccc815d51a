"""Every statistic tweetbench reports, derived from raw samples in this one place.

The harness keeps raw samples (step times, throughputs); records and reports call into this
module and never compute a mean, a percentile or an interval themselves. Seven parts:

* ``Summary``: count, mean, stdev, CV and percentiles of one sample set.
* ``bootstrap_ci`` / ``median_with_ci``: confidence intervals for a median over trials.
* ``compare_samples`` / ``regression_exceeds``: do two sample sets differ? (``compare``'s per-step detail;
  its verdicts rest on the per-trial test in ``replication``)
* ``SteadyStateDetector`` / ``steady_start``: where warm-up ends and measurement begins.
* ``paired_log_ratio`` / ``paired_block_ratio``: the one paired interval (ab's pairs, the overhead's and
  the ablation's rounds): a t interval on the per-pair log ratios.
* ``detectable_change`` / ``units_needed`` / ``detectable_text`` / ``holm``: power and multiplicity.
* ``noise_verdict`` / ``robust_spread`` / ``batch_median_interval``: is a result too noisy to trust, and
  an honest within-trial interval of a median over correlated steps.
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


# --------------------------------------------------------------------------- paired ratios


@dataclass(frozen=True)
class PairedRatio:
    """candidate/reference from paired units (ABBA pairs of trials, interleaved rounds of blocks).

    ``ratio`` is the geometric mean of the per-pair ratios, ``exp(mean log(candidate/reference))``;
    ``[low, high]`` its t interval (one-sample t on the per-pair log ratios, df = n - 1), None below
    two pairs; ``sd_log`` the standard deviation of the per-pair log ratios (None below two pairs);
    ``p_value`` the two-sided one-sample t test of a mean log ratio of 0.
    """

    ratio: float
    low: float | None
    high: float | None
    n: int
    sd_log: float | None
    p_value: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_log_ratio(reference: Sequence[float], candidate: Sequence[float],
                     confidence: float = 0.95) -> PairedRatio:
    """The paired per-pair log-ratio t interval: the one method behind ``ab`` (pairs of trials), the
    overhead ratio (rounds of Lightning and bare blocks) and the open division's ablation (rounds of
    candidate and closed blocks). Pair k of ``reference`` and of ``candidate`` ran side by side, so
    whatever drifts between pairs cancels in their ratio."""
    ref, cand = _as_samples(reference, "reference"), _as_samples(candidate, "candidate")
    if ref.size != cand.size:
        raise ValueError(f"paired figures need as many candidate as reference values, got {cand.size} and {ref.size}")
    if np.any(ref <= 0) or np.any(cand <= 0):
        raise ValueError("paired ratios need strictly positive figures (times or rates)")
    _check_confidence(confidence)
    diff = np.log(cand) - np.log(ref)
    n, ratio = int(diff.size), math.exp(float(np.mean(diff)))
    method = (f"geometric mean of {n} per-pair ratios; {confidence:.0%} interval: one-sample t on the per-pair "
              f"log ratios (df {n - 1}), exponentiated")
    if n < 2:
        return PairedRatio(ratio, None, None, n, None, None, f"{method}: no interval from one pair")
    if np.ptp(diff) <= 1e-12:  # every pair agrees to rounding: a point, and t has no spread to work with
        return PairedRatio(ratio, ratio, ratio, n, 0.0, 1.0 if abs(ratio - 1.0) <= 1e-12 else 0.0, method)
    test = _scipy_stats().ttest_1samp(diff, 0.0)
    ci = test.confidence_interval(confidence)
    return PairedRatio(ratio, math.exp(float(ci.low)), math.exp(float(ci.high)), n, float(np.std(diff, ddof=1)),
                       float(test.pvalue), method)


def block_medians(blocks: Sequence[Sequence[float]]) -> list[float]:
    """The median of each block (a round's steps share its state: the block is the unit, not the step)."""
    return [float(np.median(_as_samples(block, "block"))) for block in blocks]


def paired_block_ratio(reference: Sequence[Sequence[float]], candidate: Sequence[Sequence[float]],
                       confidence: float = 0.95) -> PairedRatio:
    """``paired_log_ratio`` over interleaved rounds: round k's candidate block median over its reference
    block median (rounds beyond the shorter side are left out)."""
    rounds = min(len(reference), len(candidate))
    return paired_log_ratio(block_medians(reference[:rounds]), block_medians(candidate[:rounds]), confidence)


# --------------------------------------------------------------------------- power and multiplicity

PowerDesign = Literal["paired", "independent"]
POWER = 0.8
"""The power at which ``detectable_change`` states the smallest change a design can show."""
# The changes offered as the second figure of ``detectable_text`` ("to show 3%, use 24").
TARGET_CHANGES = (0.01, 0.02, 0.03, 0.05, 0.10, 0.20, 0.50)


def _standard_error_and_df(sd_log: float, n: int, design: PowerDesign) -> tuple[float, int]:
    """Paired: n pairs, ``sd_log`` the sd of the pair log ratios. Independent: n trials a side, ``sd_log``
    the pooled within-side sd of the log figures (two-sample t, equal counts)."""
    if design == "paired":
        return sd_log / math.sqrt(n), n - 1
    return sd_log * math.sqrt(2.0 / n), 2 * n - 2


def _power(ncp: float, df: int, alpha: float) -> float:
    stats = _scipy_stats()
    crit = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    power = float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))
    if math.isnan(power):  # scipy's nct gives up far in the tail: there the power is 0 or 1
        return 1.0 if ncp > crit else 0.0
    return power


def detectable_change(sd_log: float, n: int, design: PowerDesign = "paired", *, alpha: float = 0.05,
                      power: float = POWER) -> float | None:
    """The smallest change (0.08 = 8%) that a two-sided t test at ``alpha`` shows with probability ``power``,
    at a spread of ``sd_log`` (the sd of the log figures: see ``_standard_error_and_df``) and ``n`` pairs or
    trials a side, as pyperf's ``required_nprocesses`` reasons. None below two (no spread to test against)."""
    if n < 2 or not (math.isfinite(sd_log) and sd_log >= 0):
        return None
    if sd_log == 0.0:
        return 0.0
    se, df = _standard_error_and_df(sd_log, n, design)
    ncp = _scipy_stats().norm.ppf(power) + _scipy_stats().norm.ppf(1 - alpha / 2)  # a start above the root
    from scipy.optimize import brentq  # on first use, as _scipy_stats

    hi = max(ncp, 1.0)
    while _power(hi, df, alpha) < power:
        hi *= 2.0
    root = brentq(lambda x: _power(x, df, alpha) - power, 0.0, hi, xtol=1e-4)
    return math.expm1(root * se)


def units_needed(sd_log: float, change: float, design: PowerDesign = "paired", *, alpha: float = 0.05,
                 power: float = POWER, most: int = 100_000) -> int | None:
    """The fewest pairs (or trials a side) whose test shows ``change`` with ``power``; None beyond ``most``."""
    if not change > 0:
        raise ValueError(f"change must be above 0, got {change}")

    def enough(n: int) -> bool:
        found = detectable_change(sd_log, n, design, alpha=alpha, power=power)
        return found is not None and found <= change

    if not enough(most):
        return None
    # Start from the normal approximation, then step to the exact t answer (a few evaluations, not a search).
    z = _scipy_stats().norm.ppf(1 - alpha / 2) + _scipy_stats().norm.ppf(power)
    n = min(most, max(2, math.ceil((z * sd_log / math.log1p(change)) ** 2 * (1 if design == "paired" else 2))))
    while not enough(n):
        n += 1
    while n > 2 and enough(n - 1):
        n -= 1
    return n


def detectable_text(sd_log: float | None, n: int, design: PowerDesign = "paired", target: float | None = None,
                    *, alpha: float = 0.05) -> str | None:
    """"at this spread (sd 3.1% between pairs), 6 pairs can show a change of 8.2% or more; to show 3%, use 24"
    (80% power, two-sided at ``alpha``). ``target``: the change to size for; default the largest of
    ``TARGET_CHANGES`` at most 80% of the detectable one. None when there is no spread to reason from."""
    if sd_log is None:
        return None
    found = detectable_change(sd_log, n, design, alpha=alpha)
    if found is None:
        return None
    unit = "pairs" if design == "paired" else "trials a side"
    spread = "between pairs" if design == "paired" else "between trials"
    text = (f"at this spread (sd {sd_log:.1%} {spread}), {n} {unit} can show a change of {found:.1%} or more "
            f"({POWER:.0%} power, two-sided {alpha:g})")
    if target is None:  # a round figure clearly below the one shown ("8.2%; to show 5%", not "2.0%; to show 2%")
        below = [t for t in TARGET_CHANGES if t <= 0.8 * found]
        target = below[-1] if below else None
    if target is not None and target > 0:
        needed = units_needed(sd_log, target, design, alpha=alpha)
        if needed is None:
            text += f"; {target:.0%} is out of reach"
        else:
            text += (f"; to show {target:.0%}, use {needed}" if target < found
                     else f"; {target:.0%} needs only {needed}")
    return text


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error at most alpha when each is compared to alpha)."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    adjusted = np.empty(p.size)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(x) for x in adjusted]


# --------------------------------------------------------------------------- noise

NOISY_BETWEEN = 0.05
"""A result is noisy when its per-trial figures spread more than this (sd of their logs, ~ their CV). Why 5%:
at that spread the default 8 interleaved pairs show a change of 8.5% with 80% power (``detectable_change``);
beyond it, the changes a user usually hunts (5-10%) fall out of reach of the default design."""
NOISY_PAIRS = NOISY_BETWEEN * math.sqrt(2.0)
"""The same threshold for ``ab``'s pair log ratios: the difference of two trials has sqrt(2) their spread."""
NOISY_MAD = 0.10
"""A trial is noisy within when the robust spread of its steps (normal-scaled MAD over the median) exceeds
10%: half its steps then lie beyond ±7% of the median, so the typical step itself varied through the window
(contention throughout), which a handful of stalls can never do (the MAD ignores them, where one stall
inflates a CV past any threshold)."""
BATCHES = 10
"""Non-overlapping batches of consecutive steps behind a trial's median-step interval (batch means)."""


def robust_spread(values: Sequence[float]) -> float:
    """The normal-scaled median absolute deviation over the median (a CV that a few stalls cannot move)."""
    arr = _as_samples(values)
    median = float(np.median(arr))
    mad = float(_scipy_stats().median_abs_deviation(arr, scale="normal"))
    return mad / median if median != 0.0 else 0.0


def log_spread(values: Sequence[float]) -> float | None:
    """The sd (ddof=1) of the logs of positive figures (~ their CV); None below two."""
    arr = _as_samples(values)
    if arr.size < 2:
        return None
    if np.any(arr <= 0):
        raise ValueError("log_spread needs strictly positive figures")
    return float(np.std(np.log(arr), ddof=1))


def batch_median_interval(values: Sequence[float], confidence: float = 0.95, batches: int = BATCHES) -> Interval:
    """The median of correlated samples (the steps of one trial) with a batch-means interval.

    The samples are cut into ``batches`` non-overlapping runs of consecutive samples; each run's median is
    one value, and the interval is ``median ± t(k-1) · sd / sqrt(k)`` over those k medians. Consecutive steps
    share the machine's state, so an interval that treats them as independent (the order statistics of all
    steps) is far too narrow: with a step autocorrelation of 0.9 it covered 45%. Fewer than
    ``2 * batches`` samples give a point. It is still an interval *within one trial*: it says nothing about
    another process (see ``replication``)."""
    arr = _as_samples(values)
    _check_confidence(confidence)
    estimate = float(np.median(arr))
    if arr.size < 2 * batches:
        return Interval(estimate, estimate, estimate, f"within-trial: {arr.size} steps, too few for batch means")
    medians = np.array([np.median(chunk) for chunk in np.array_split(arr, batches)])
    half = float(_scipy_stats().t.ppf((1 + confidence) / 2, batches - 1) * np.std(medians, ddof=1)
                 / math.sqrt(batches))
    method = (f"within-trial, batch means: median ± t·sd/√{batches} over the medians of {batches} non-overlapping "
              f"batches of ~{arr.size // batches} consecutive steps")
    return Interval(estimate, estimate - half, estimate + half, method)


@dataclass(frozen=True)
class NoiseVerdict:
    """Whether a result is too noisy to trust, why, and the spreads it measured."""

    noisy: bool
    reasons: tuple[str, ...]
    between: float | None  # sd of the log per-trial figures; None below two trials
    within: tuple[float, ...]  # each trial's robust step spread (``robust_spread``)


def noise_verdict(per_trial: Sequence[float], within: Sequence[float], *, what: str = "per-trial figures",
                  between_limit: float = NOISY_BETWEEN) -> NoiseVerdict:
    """Noisy if the per-trial figures spread more than ``between_limit`` (sd of their logs) or a trial's
    robust step spread exceeds ``NOISY_MAD``; one reason per problem, trials numbered from 1."""
    between = log_spread(per_trial) if len(per_trial) >= 2 else None
    reasons = []
    if between is not None and between > between_limit:
        reasons.append(f"between-trial spread {between:.1%} (sd of the log {what} over {len(per_trial)} trials) "
                       f"> {between_limit:.0%}")
    reasons += [f"trial {i}: its typical step varied, MAD/median {spread:.1%} > {NOISY_MAD:.0%}"
                for i, spread in enumerate(within, start=1) if spread > NOISY_MAD]
    return NoiseVerdict(bool(reasons), tuple(reasons), between, tuple(float(x) for x in within))


NOISE_RULE = (f"noisy if the per-trial figures spread more than {NOISY_BETWEEN:.0%} (sd of their logs: beyond it "
              "the default 8 interleaved pairs cannot show a 9% change), or a trial's steps have a robust spread "
              f"(normal-scaled MAD over the median) above {NOISY_MAD:.0%} (the typical step varied through the "
              "window; a few stalls cannot trip it, unlike a CV)")
