"""Pure Markdown renderers for efficiency: FLOP/s against the measured peak, energy, GPU sampling.

Results in, text out; ``report/markdown.py`` places these in the run report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.records import K_DEVICE, K_METRICS, K_STATUS, Record, lookup
from tweetbench.report.cells import table_row

ENERGY_WINDOWS = (("training", "training samples"), ("inference_batch1", "batch-1 inferences"),
                  ("inference_offline", "batched inferences"))


def flops_text(value: float | None) -> str:
    """FLOP/s in the unit that suits it (GFLOP/s or TFLOP/s)."""
    if not value:
        return "–"
    if value >= 1e12:
        return f"{value / 1e12:,.2f} TFLOP/s"
    return f"{value / 1e9:,.1f} GFLOP/s"


def _rate_cell(part: Mapping[str, Any] | None) -> str:
    if not part or not part.get("achieved_flops_per_s"):
        return "–"
    pct = part.get("pct_of_peak")
    return flops_text(part["achieved_flops_per_s"]) + (f" ({pct:.1f}%)" if pct is not None else "")


def _j(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f} J"


def _peaks_cell(peaks: Mapping[str, Any] | None) -> str:
    if not peaks:
        return "–"
    return " / ".join(f"{name} {flops_text(lookup(peaks, name, 'flops_per_s'))}" for name in peaks)


def efficiency_table(results: Sequence[Record]) -> str:
    """Per device: achieved FLOP/s (% of the measured peak), the peaks, and energy per 1,000 samples."""
    lines = ["| device | training (% of peak) | batch-1 inference (% of peak) | batched inference (% of peak) | "
             "measured matmul peak | J / 1k training samples | J / 1k inferences, batch 1 / batched | "
             "mean power, training |", "|" + "---|" * 8]
    for r in results:
        if r[K_STATUS] != "ok":
            continue
        eff = lookup(r, K_METRICS, "efficiency") or {}
        energy = lookup(r, K_METRICS, "energy") or {}
        power = lookup(energy, "training", "mean_power_w")
        lines.append(table_row(
            r[K_DEVICE]["label"], *(_rate_cell(eff.get(window)) for window, _ in ENERGY_WINDOWS),
            _peaks_cell(eff.get("peak")), _j(lookup(energy, "training", "j_per_1k")),
            " / ".join(_j(lookup(energy, window, "j_per_1k")) for window in ("inference_batch1", "inference_offline")),
            "–" if power is None else f"{power:,.0f} W"))
    return "\n".join(lines)


def energy_notes(results: Sequence[Record]) -> list[str]:
    """One line per device and window whose energy was not measured, saying why."""
    notes = []
    for r in results:
        seen: set[str] = set()
        for window, _ in ENERGY_WINDOWS:
            reason = lookup(r, K_METRICS, "energy", window, "reason")
            if reason and reason not in seen:
                seen.add(reason)
                notes.append(f"- {r[K_DEVICE]['name']} energy ({window}): {reason}")
    return notes


def efficiency_section(results: Sequence[Record]) -> list[str]:
    """The run report's efficiency section: the table, the FLOPs convention and the energy caveats."""
    ok = [r for r in results if r[K_STATUS] == "ok" and lookup(r, K_METRICS, "efficiency")]
    if not ok:
        return []
    flops = lookup(ok[0], K_METRICS, "efficiency", "flops") or {}
    out = ["## Efficiency and energy", "", efficiency_table(results), ""]
    if flops:
        out += [f"FLOPs are analytic ({flops.get('convention')}): {flops['forward_per_sample'] / 1e6:,.2f} MFLOP per "
                f"inference, {flops['training_per_sample'] / 1e6:,.2f} MFLOP per training sample (formula in "
                "`tweetbench/flops.py`). The percentage is of the matmul peak this run measured on the same device "
                "in the workload's precision.", ""]
    notes = energy_notes(results)
    if notes:
        out += ["Energy not measured:", "", *notes, ""]
    return out


def _window_energy(energy: Mapping[str, Any], window: str, what: str) -> str:
    entry = energy.get(window) or {}
    if entry.get("j_per_1k") is None:
        return ""
    power = entry.get("mean_power_w")
    return (f"{entry['j_per_1k']:,.2f} J per 1,000 {what} ({entry['joules']:,.2f} J over {entry['window_s']:.2f} s"
            + (f", mean {power:,.0f} W" if power is not None else "") + ")")


def _nvml_line(nvml: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    def p50(name: str, unit: str, digits: int = 0) -> str:
        value = lookup(nvml, name, "p50")
        return "–" if value is None else f"{value:,.{digits}f}{unit}"

    limit = facts.get("power_limit_w")
    start, end = nvml.get("throttle_reasons_start"), nvml.get("throttle_reasons_end")
    return (f"- GPU during training (NVML, {nvml.get('samples')} samples): utilisation p50 {p50('gpu_util_pct', '%')}, "
            f"SM clock p50 {p50('sm_clock_mhz', ' MHz')}, power p50 {p50('power_w', ' W')}"
            + (f" (limit {limit:,.0f} W)" if limit else "")
            + f"; throttle reasons at start: {', '.join(start) if start else 'none'}, at end: "
            f"{', '.join(end) if end else 'none'}.")


def device_lines(r: Record) -> list[str]:
    """Bullet lines for one device's section: efficiency, energy and GPU sampling (timer agreement: markdown)."""
    out: list[str] = []
    eff = lookup(r, K_METRICS, "efficiency")
    if eff:
        peak = eff.get("reference_peak_flops_per_s")
        out.append(f"- Efficiency: training {_rate_cell(eff.get('training'))}, batch-1 inference "
                   f"{_rate_cell(eff.get('inference_batch1'))}, batched inference "
                   f"{_rate_cell(eff.get('inference_offline'))}; percentages of the measured "
                   f"{eff.get('reference_peak')} matmul peak, {flops_text(peak)}"
                   + (f" ({eff['reason']})" if eff.get("reason") else "") + ".")
    energy = lookup(r, K_METRICS, "energy") or {}
    parts = [text for window, what in ENERGY_WINDOWS if (text := _window_energy(energy, window, what))]
    if parts:
        out.append(f"- Energy ({lookup(energy, 'training', 'source') or '?'}): " + "; ".join(parts) + ".")
    elif energy:
        out.append(f"- Energy: {lookup(energy, 'training', 'reason') or 'not measured'}.")
    nvml = lookup(r, K_METRICS, "device_counters", "nvml")
    if nvml:
        out.append(_nvml_line(nvml, lookup(r, K_DEVICE, "facts") or {}))
    return out
