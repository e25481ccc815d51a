"""Pure Markdown pieces for repeated trials and noise: headline intervals, per-trial figures, warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.records import K_DEVICE, K_METRICS, K_NOISE_REASONS, K_NOISY, K_TRIALS, Record

HEADLINE_LABELS = {
    "train_samples_per_s": "training samples/s",
    "train_step_p50_ms": "training step p50 (ms)",
    "latency_batch1_p50_ms": "batch-1 latency p50 (ms)",
    "offline_samples_per_s": "batch-N samples/s",
}


def _num(value: Any, digits: int) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value:,.{digits}f}"


def _digits(unit: str) -> int:
    return 3 if unit == "ms" else 0


def interval_text(headline: Mapping[str, Any]) -> str:
    """``[low, high]`` of a headline figure, or a dash for a single trial."""
    if headline.get("low") is None:
        return "–"
    d = _digits(headline["unit"])
    return f"[{_num(headline['low'], d)}, {_num(headline['high'], d)}]"


def samples_cell(r: Record) -> str | None:
    """'1,234 [1,200, 1,260]' for the side-by-side table when the result has >= 2 trials, else None."""
    headline = (r.get(K_TRIALS) or {}).get("headline", {}).get("train_samples_per_s")
    if not headline or headline.get("low") is None:
        return None
    return f"{_num(headline['estimate'], 0)} {interval_text(headline)}"


def noise_flags(results: Sequence[Record]) -> list[str]:
    """One warning line per noisy result, for the top of the report and the summary."""
    return [f"> **Noisy: {r[K_DEVICE]['name']}** — {'; '.join(r.get(K_NOISE_REASONS) or ['see its trials'])}. "
            "Small differences in its figures are not to be trusted; rerun on a quieter machine "
            "(its load average before each trial is in the per-trial table)."
            for r in results if r.get(K_NOISY)]


def _headline_table(r: Record, section: Mapping[str, Any]) -> list[str]:
    batch = ((r.get(K_METRICS) or {}).get("inference") or {}).get("offline", {}).get("batch_size", "N")
    lines = ["| figure | median over trials | interval | coverage | method |", "|---|---|---|---|---|"]
    for key, h in section["headline"].items():
        coverage = "–" if h.get("coverage") is None else f"{h['coverage']:.1%}"
        label = HEADLINE_LABELS.get(key, key).replace("batch-N", f"batch-{batch}")
        lines.append(f"| {label} | {_num(h['estimate'], _digits(h['unit']))} | "
                     f"{interval_text(h)} | {coverage} | {h['method']} |")
    return lines


def _noise_cell(noise: Mapping[str, Any]) -> list[str]:
    load = noise.get("load_average")
    steal = noise.get("cpu_steal_fraction")
    clocks = noise.get("gpu_clocks")
    clock_text = "–"
    if isinstance(clocks, Mapping) and clocks:
        clock_text = "SM p50 {} / min {} / max {} MHz".format(
            *(_num(clocks.get(k), 0) for k in ("sm_p50_mhz", "sm_min_mhz", "sm_max_allowed_mhz")))
        if clocks.get("throttle_reasons"):
            clock_text += f"; throttled: {', '.join(clocks['throttle_reasons'])}"
    return [
        _num(load[0], 2) if isinstance(load, list) and load else "–",
        "–" if steal is None else f"{steal:.1%}",
        str(noise.get("cpu_governor") or "–"),
        str(noise.get("torch_threads") or "–"),
        clock_text,
    ]


def _step_cells(t: Mapping[str, Any]) -> str:
    """The median step with its within-trial interval, the CV and the robust spread (older records lack it)."""
    low, high = t["step_p50_ci_ms"]
    mad = t.get("step_mad_ratio")
    return (f"{t['step_p50_ms']:,.3f} [{low:,.3f}, {high:,.3f}] | {t['step_cv']:.1%} | "
            f"{'–' if mad is None else f'{mad:.1%}'}")


def _per_trial_table(section: Mapping[str, Any]) -> list[str]:
    lines = ["| trial | status | train samples/s | step p50 (ms) [within-trial 95%] | step CV | step MAD/median | "
             "warm-up steps | batch-1 p50 (ms) | load avg 1 min | CPU steal | governor | torch threads | GPU clocks |",
             "|" + "---|" * 13]
    for t in section["per_trial"]:
        if t["status"] != "ok" or "step_p50_ms" not in t:
            noise = " | ".join(_noise_cell(t["noise"]))
            lines.append(f"| {t['trial']} | {t['status']} | – | – | – | – | – | – | {noise} |")
            continue
        warmup = f"{t['warmup_steps']}" + (" (cap)" if t.get("warmup_capped") else "")
        lines.append(f"| {t['trial']} | {t['status']} | {_num(t['train_samples_per_s'], 0)} | {_step_cells(t)} | "
                     f"{warmup} | {_num(t.get('latency_batch1_p50_ms'), 3)} | "
                     + " | ".join(_noise_cell(t["noise"])) + " |")
    methods = {t.get("step_p50_ci_method") for t in section["per_trial"] if t.get("step_p50_ci_method")}
    if any(str(m).startswith("within-trial") for m in methods):
        lines += ["", "The step p50 interval is within one trial (its steps are correlated; batch means): it says "
                  "nothing about another run. Between runs, the headline interval over trials and `compare` speak."]
    return lines


def detectable_lines(r: Record) -> list[str]:
    """The smallest change this machine can show, at the spread these trials measured (pyperf-style)."""
    section = r.get(K_TRIALS) or {}
    noise = section.get("noise") or {}
    between, text = noise.get("between_trials"), noise.get("detectable")
    if noise and section.get("count") == 1:
        return ["Smallest detectable change: not measured: one trial shows no spread between trials (run with "
                "`--repeats 3` or more to learn what this machine can show)."]
    if between is None or not text:
        return []
    return [f"Smallest detectable change: {text}, for `tweetbench compare` of two runs like this one "
            "(interleaved `tweetbench ab` pairs do better where the machine drifts)."]


def _noise_line(r: Record, section: Mapping[str, Any]) -> str:
    verdict = ("**noisy**: " + "; ".join(r.get(K_NOISE_REASONS) or [])) if r[K_NOISY] else "not noisy"
    noise = section.get("noise") or {}
    measured = []
    if noise.get("between_trials") is not None:
        measured.append(f"between trials {noise['between_trials']:.1%}")
    if noise.get("within_trial"):
        measured.append(f"within trials up to {max(noise['within_trial']):.1%} MAD/median")
    spread = f" (measured: {', '.join(measured)})" if measured and not r[K_NOISY] else ""
    return f"Noise: {verdict}{spread} (rule: {section.get('noise_rule', '?')})."


def trials_lines(r: Record) -> list[str]:
    """The device section's trials part: headline intervals, per-trial figures, the noise verdict."""
    section = r.get(K_TRIALS)
    if not section:
        return []
    count, requested = section["count"], section["requested"]
    lines = ["", f"Trials: {count} of {requested} requested, each in a fresh process. {section.get('aggregation', '')}"
             + (f"; profile breakdown from trial {section['breakdown_trial']}" if section.get("breakdown_trial")
                else "") + "."]
    if section["headline"] and count > 1:
        lines += ["", *_headline_table(r, section)]
    lines += ["", *_per_trial_table(section)]
    if "noisy" in r:
        lines += ["", _noise_line(r, section)]
    detectable = detectable_lines(r)
    return lines + (["", *detectable] if detectable else [])
