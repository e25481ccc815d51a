"""Print the compact summary of a GPU check: the figures wanted and the sanity checks, from one run.

    python scripts/gpu_summary.py RUN_DIR [--idle-power-w W] [--bench-json FILE]

Reads the run's per-device JSON files directly (plain ``json``), so it still says something
useful if the run was partial. Exit code: 0 when every check passed or was skipped, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# A CUDA-event step time and a wall-clock step time (after synchronize) "agree" within this.
TIMER_TOLERANCE = 0.05


def get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def fmt(value: float | None, spec: str = ",.1f", unit: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{unit}"


def mib(value: float | None) -> str:
    return "–" if not value else f"{value / 2**20:,.0f} MiB"


def flops(value: float | None) -> str:
    if not value:
        return "–"
    return f"{value / 1e12:,.2f} TFLOP/s" if value >= 1e12 else f"{value / 1e9:,.1f} GFLOP/s"


def load(run_dir: Path) -> dict[str, dict[str, Any]]:
    results = {}
    for path in sorted(run_dir.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("tool") == "tweetbench" and "device" in data:
            results[data["device"]["name"]] = data
    return results


class Checks:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failed = 0

    def add(self, name: str, ok: bool | None, detail: str) -> None:
        word = "SKIP" if ok is None else "PASS" if ok else "FAIL"
        self.failed += ok is False
        self.lines.append(f"  [{word}] {name}: {detail}")


def figures(name: str, r: dict[str, Any], cpu: dict[str, Any] | None) -> list[str]:
    m = r.get("metrics") or {}
    train_sps = get(m, "training", "samples_per_s")
    cpu_sps = get(cpu, "metrics", "training", "samples_per_s") if cpu else None
    eff = m.get("efficiency") or {}
    energy = m.get("energy") or {}
    memory = get(m, "memory", "device") or {}
    peaks = eff.get("peak") or {}
    reason = f" ({r['reason']})" if r.get("reason") else ""
    header = f"{name}: {r['status']}{reason} — {r['device']['label']}"
    if not m.get("training"):
        return [header]
    lines = [
        header,
        f"  training samples/s      {fmt(train_sps, ',.0f')}   "
        f"(step p50 {fmt(get(m, 'training', 'step_ms', 'p50'), '.3f')} ms)",
        f"  batch-1 latency p50     request {fmt(get(m, 'inference', 'latency_batch1_ms', 'p50'), '.3f')} ms, "
        f"model {fmt(get(m, 'inference', 'model_latency_batch1_ms', 'p50'), '.3f')} ms "
        f"(inference overhead {fmt(get(m, 'inference', 'inference_overhead', 'ratio_p50'), '.2f', 'x')})",
        f"  overlap gain            training {fmt(get(m, 'training', 'overlap_gain'), '.3f', 'x')} "
        f"(synced {fmt(get(m, 'training', 'samples_per_s_synced'), ',.0f')} samples/s), batched "
        f"{fmt(get(m, 'inference', 'offline', 'overlap_gain'), '.3f', 'x')}",
        f"  batched inference/s     {fmt(get(m, 'inference', 'offline', 'samples_per_s'), ',.0f')}",
        f"  speedup vs CPU          {fmt(train_sps / cpu_sps if train_sps and cpu_sps else None, '.2f', 'x')}",
        f"  overhead vs bare torch  {fmt(get(m, 'overhead', 'ratio'), '.3f')} "
        f"(95% CI {'–'.join(f'{x:.3f}' for x in get(m, 'overhead', 'ci95') or [])}; "
        f"{get(m, 'overhead', 'verdict')} the 0.95 target)",
        f"  J / 1k train samples    {fmt(get(energy, 'training', 'j_per_1k'), ',.2f')}"
        + (f"   ({get(energy, 'training', 'reason')})" if get(energy, "training", "reason") else ""),
        f"  J / 1k inferences       batch 1: {fmt(get(energy, 'inference_batch1', 'j_per_1k'), ',.2f')}, "
        f"batched: {fmt(get(energy, 'inference_offline', 'j_per_1k'), ',.2f')}",
        f"  % of measured peak      training {fmt(get(eff, 'training', 'pct_of_peak'), '.2f', '%')}, "
        f"batched inference {fmt(get(eff, 'inference_offline', 'pct_of_peak'), '.2f', '%')} "
        f"(of {eff.get('reference_peak', '?')})",
        "  measured matmul peak    " + (", ".join(f"{k} {flops(v.get('flops_per_s'))}" for k, v in peaks.items())
                                      or "–"),
        f"  memory                  torch peak allocated {mib(memory.get('torch_peak_allocated_bytes'))}, "
        f"torch peak reserved {mib(memory.get('torch_peak_reserved_bytes'))}, "
        f"NVML used {mib(memory.get('nvml_used_bytes'))}, peak RSS {mib(get(m, 'memory', 'peak_rss_bytes'))}",
    ]
    nvml = get(m, "device_counters", "nvml")
    if nvml:
        lines.append(f"  NVML (training)         util p50 {fmt(get(nvml, 'gpu_util_pct', 'p50'), '.0f', '%')}, "
                     f"SM clock p50 {fmt(get(nvml, 'sm_clock_mhz', 'p50'), '.0f', ' MHz')}, "
                     f"power p50 {fmt(get(nvml, 'power_w', 'p50'), '.0f', ' W')}; throttle start "
                     f"{nvml.get('throttle_reasons_start')}, end {nvml.get('throttle_reasons_end')}")
    return lines


def check_issue13(checks: Checks, name: str, r: dict[str, Any]) -> None:
    """Math mode, overlap gain, per-phase memory peaks and the energy window of one GPU result."""
    m = r.get("metrics") or {}
    mode = get(r, "device", "facts", "math_mode")
    precision = get(r, "workload", "config", "precision")
    checks.add(f"{name} math mode", mode == "fp32 IEEE" if precision == "32-true" else None,
               f"{mode} for {precision}; label {get(r, 'device', 'label')!r}")
    for window, path in (("training", ("training",)), ("batched", ("inference", "offline"))):
        gain = get(m, *path, "overlap_gain")
        checks.add(f"{name} overlap gain ({window})", gain is not None and gain >= 0.95,
                   f"{fmt(gain, '.3f', 'x')}: {fmt(get(m, *path, 'samples_per_s'), ',.0f')} samples/s overlapped vs "
                   f"{fmt(get(m, *path, 'samples_per_s_synced'), ',.0f')} synced")
    phases = get(m, "memory", "device_phases") or {}
    peaks = {phase: (figures or {}).get("torch_peak_allocated_bytes") for phase, figures in phases.items()}
    checks.add(f"{name} memory peak per phase", len(peaks) == 3 and all(peaks.values())
               and peaks["inference_batch1"] <= peaks["training"],
               ", ".join(f"{phase} {mib(value)}" for phase, value in peaks.items()) or "no phase figures")
    energy = get(m, "energy", "training") or {}
    window_s = energy.get("window_s") or 0.0
    checks.add(f"{name} energy window", (energy.get("joules") is not None) if window_s >= 1.0
               else str(energy.get("reason", "")).startswith("window too short"),
               f"{window_s:.2f} s: {fmt(energy.get('joules'), ',.1f', ' J')} {energy.get('reason') or ''}".strip())


def check_gpu(checks: Checks, name: str, r: dict[str, Any], idle_w: float | None) -> None:
    m = r.get("metrics") or {}
    facts = get(r, "device", "facts") or {}
    for window, path in (("training", ("training",)), ("batch-1", ("inference",)),
                         ("batched", ("inference", "offline"))):
        timer = get(m, *path, "device_timer")
        if not timer:
            checks.add(f"{name} CUDA events vs wall ({window})", False, "no device timer recorded")
            continue
        p50, total = timer["p50_rel_diff"], timer["total_rel_diff"]
        if window == "batch-1":  # synchronised every request: the median step is the figure
            ok = abs(p50) <= TIMER_TOLERANCE
        else:  # an overlapped window: the host marks show dispatch, so only the window's total must agree
            ok = abs(total) <= TIMER_TOLERANCE if window == "training" else None
        checks.add(f"{name} CUDA events vs wall ({window})", ok,
                   f"median {p50 * 100:+.2f}%, total {total * 100:+.2f}% over {timer['step_ms']['count']} steps")
    check_issue13(checks, name, r)
    power = get(m, "energy", "training", "mean_power_w")
    limit = facts.get("power_limit_w")
    if power is None:
        checks.add(f"{name} power from energy/time", False, get(m, "energy", "training", "reason") or "no energy")
    else:
        low = 0.9 * idle_w if idle_w else 1.0
        high = 1.05 * limit if limit else float("inf")
        checks.add(f"{name} power from energy/time", low <= power <= high,
                   f"{power:,.0f} W over {get(m, 'energy', 'training', 'window_s'):.2f} s; idle "
                   f"{fmt(idle_w, ',.0f', ' W')}, limit {fmt(limit, ',.0f', ' W')}")
    memory = get(m, "memory", "device") or {}  # the training phase's peaks
    alloc, reserved = memory.get("torch_peak_allocated_bytes"), memory.get("torch_peak_reserved_bytes")
    used, total = memory.get("nvml_used_bytes"), facts.get("total_memory_bytes")
    plausible = bool(alloc and reserved and alloc <= reserved and (used is None or reserved <= used)
                     and (total is None or (used or reserved) <= total) and alloc > 2**20)
    checks.add(f"{name} peak memory plausible", plausible,
               f"allocated {mib(alloc)} <= reserved {mib(reserved)} <= NVML used {mib(used)} <= total {mib(total)}")
    eff = m.get("efficiency") or {}
    pct = get(eff, "training", "pct_of_peak")
    checks.add(f"{name} % of measured peak", pct is not None and 0 < pct < 100, f"training {fmt(pct, '.2f', '%')}")


def check_parity(checks: Checks, results: dict[str, dict[str, Any]]) -> None:
    try:
        from tweetbench.analysis.parity import parity_checks
        from tweetbench.devices import REFERENCE_KIND
    except ImportError as exc:
        checks.add("parity vs CPU", None, f"tweetbench.analysis.parity not importable: {exc}")
        return
    for verdict in parity_checks(list(results.values()), REFERENCE_KIND):
        if verdict.verdict == "reference":
            continue
        ok = {"match": True, "diverged": False}.get(verdict.verdict)
        detail = verdict.verdict + (f", max |loss diff| {verdict.max_abs_diff:.2e} (tolerance {verdict.tolerance:.0e})"
                                    if verdict.max_abs_diff is not None else "") + (f": {verdict.reason}"
                                                                                    if verdict.reason else "")
        checks.add(f"{verdict.device} parity vs CPU", ok, detail)


def bench_lines(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    lines = []
    for bench in data.get("benchmarks", []):
        stats = bench.get("stats") or {}
        extra = bench.get("extra_info") or {}
        sps = extra.get("samples_per_s")
        lines.append(f"  {bench.get('name')}: median {fmt(stats.get('median', 0) * 1e3, '.3f')} ms"
                     + (f", {sps:,.0f} samples/s" if isinstance(sps, int | float) else ""))
    return lines or ["  (no benchmarks in the file)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--idle-power-w", type=float, default=None)
    parser.add_argument("--bench-json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = load(args.run_dir)
    if not results:
        print(f"no results in {args.run_dir}")
        return 1
    cpu = next((r for r in results.values() if r["device"]["kind"] == "cpu" and r["status"] == "ok"), None)
    print(f"== figures ({args.run_dir}) ==")
    for name, r in results.items():
        print("\n".join(figures(name, r, cpu)))
    checks = Checks()
    gpus = {n: r for n, r in results.items() if r["device"]["kind"] == "gpu"}
    for name, r in gpus.items():
        if r["status"] == "ok":
            check_gpu(checks, name, r, args.idle_power_w)
        else:
            checks.add(f"{name} ran", None if r["status"] == "unavailable" else False,
                       f"{r['status']}: {r.get('reason')}")
    check_parity(checks, results)
    if args.bench_json is not None and args.bench_json.is_file():
        print("== pytest-benchmark (-k gpu) ==")
        print("\n".join(bench_lines(args.bench_json)))
    print("== checks ==")
    print("\n".join(checks.lines) or "  (none: no GPU result)")
    steps = [get(r, "metrics", "training", "raw_step_s") for r in gpus.values()]
    if any(steps):
        print(f"  (GPU median step {statistics.median(next(s for s in steps if s)) * 1e3:.3f} ms)")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
