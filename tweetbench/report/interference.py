"""Interference in words: what other processes took during each measured window, and what it spoiled.

Pure renderers over a result record's ``metrics.interference`` summary and its windows' sections
(``harness/interference.py`` measures them, ``scenarios/outcome.check_interference`` names them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tweetbench.records import K_METRICS, Record, lookup


def status_note(r: Record) -> str:
    """The status's note, e.g. ``interference: 0.9 cores`` ('' where no window was interfered)."""
    summary = lookup(r, K_METRICS, "interference") or {}
    hit = [summary["windows"][name] for name in summary.get("interfered_windows") or []]
    if not hit:
        return ""
    cores = [w["others_cores"] for w in hit if w.get("cpu_measured") and w.get("others_cores") is not None]
    if cores and max(cores) >= 0.05:
        return f"interference: {max(cores):.1f} cores"
    stalled = sum(w.get("stalled_steps") or 0 for w in hit)
    if stalled:
        return f"interference: {stalled} stalls"
    return "interference: cut short" if any(w.get("cut_short") for w in hit) else "interference"


def window_sentence(what: str, window: Mapping[str, Any]) -> str:
    """One window's interference as a sentence (quiet windows too: a reader sees that it was measured)."""
    if window.get("cpu_measured"):
        cores = window.get("cores", "?")
        rounding = window.get("others_cores_uncertainty") or 0.0
        share = f"{window['others_cores']:.2f}" + (f" (±{rounding:.2f}, the kernel's tick)" if rounding >= 0.05 else "")
        cpu = f"other processes used {share} of the {cores} cores during the {what} window"
        if (window.get("steal_cores") or 0) >= 0.01:
            cpu += f", and the hypervisor stole {window['steal_cores']:.2f}"
    else:
        cpu = f"the CPU taken by other processes during the {what} window was not measured ({window.get('cpu_reason')})"
    stalled = window.get("stalled_steps") or 0
    stalls = f"{stalled} steps stalled, {window.get('stalled_s') or 0:.2f} s in all" if stalled else "no step stalled"
    verdict = "interfered" if window.get("interfered") else "quiet"
    cut = f" The window was {window['cut_short']}." if window.get("cut_short") else ""
    return f"{cpu}; {stalls} ({verdict}).{cut}"


def interference_lines(r: Record) -> list[str]:
    """Each measured window's interference, and what the run did about it (the ``--on-interference`` policy)."""
    summary = lookup(r, K_METRICS, "interference") or {}
    windows = summary.get("windows") or {}
    if not windows:
        return []
    lines = []
    for what, window in windows.items():
        text = window_sentence(what, window)
        lines.append(f"- Interference ({what}): {text[0].upper()}{text[1:]}")
    if summary.get("interfered"):
        lines.append(f"- Interfered windows: {', '.join(summary['interfered_windows'])}; "
                     f"policy `--on-interference {summary.get('policy', 'flag')}`"
                     + _remeasured(r) + ". Figures from these windows tell how loaded the machine was, not how "
                     "fast the device is: " + rerun_advice(summary))
    return lines


def rerun_advice(summary: Mapping[str, Any]) -> str:
    """What to do about interfered windows, given the policy the run had."""
    return "rerun on a quiet machine" + (", or with `--on-interference remeasure`."
                                         if summary.get("policy") != "remeasure" else ".")


def _remeasured(r: Record) -> str:
    counts = {what: len(lookup(r, *path) or []) for what, path in (
        ("training", (K_METRICS, "training", "remeasured")),
        ("batch-1 inference", (K_METRICS, "inference", "remeasured_batch1")),
        ("batched inference", (K_METRICS, "inference", "offline", "remeasured")),
        ("overhead rounds", (K_METRICS, "overhead", "remeasured")))}
    done = [f"{what} {n + 1} times" for what, n in counts.items() if n]
    return f" (measured {', '.join(done)}; every attempt is in the record)" if done else ""


def headline_lines(r: Record) -> list[str]:
    """Which statistic the training headline is; where the median step's differs, both side by side, and why."""
    train = lookup(r, K_METRICS, "training") or {}
    window, median = train.get("samples_per_s"), train.get("samples_per_s_median_step")
    if not window or not median:
        return []
    gap = median / window - 1.0
    interfered = bool(lookup(train, "interference", "interfered"))
    if not interfered and abs(gap) < (train.get("headline_gap_threshold") or 0.10):
        return []
    why = ("stalls under interference lengthened the window while its typical step stayed put" if interfered
           else "the window's slow steps weigh in its wall time but not in its median")
    return [f"- Headline statistic: {train.get('headline_statistic', 'window_throughput')} "
            f"({window:,.0f} samples/s, samples over the window's wall time). The same window's median step "
            f"implies {median:,.0f} samples/s ({gap * 100:+.0f}%): {why}. `compare` and `ab` judge the per-trial "
            "median step."]
