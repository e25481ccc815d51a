"""The GPU check's summary and packing (scripts/gpu_check.sh calls both).

    python scripts/gpu_summary.py RUN_DIR... [--probes DIR] [--idle-power-w W] [--rehearsal]
    python scripts/gpu_summary.py --pack WORK --into OUT --elapsed S

The summary reads the runs' per-device JSON files directly (plain ``json``), so it still says something
useful if a run was partial: the figures wanted, then the checks (timer agreement as the records give it,
power, memory, parity against the CPU over their common parity steps, the sync-debug pass and the LSTM
numerics probe). Exit code: 0 when every check passed or was skipped, 1 otherwise.

The packing turns the work folder into at most 8 files under OUT, none in a subfolder, each under 16 MiB:
gpu_check.md (the report), summary.txt, results.tar.gz (every JSON and each run's report.md and logs) and up
to 4 pictures that the report links; gpu_check.sh adds gpu_check.log last.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAX_FILES, MAX_BYTES, MAX_PICTURES = 8, 16 * 2**20, 4


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


def load(run_dirs: list[Path]) -> dict[str, dict[str, Any]]:
    """Every device result of the runs, named ``device [precision, division]`` (one run per variant)."""
    results = {}
    for run_dir in run_dirs:
        for path in sorted(run_dir.glob("*.json")):
            data = json.loads(path.read_text())
            if data.get("tool") == "tweetbench" and "device" in data:
                config = get(data, "workload", "config") or {}
                scenario = data.get("scenario") or "benchmark"
                name = (f"{data['device']['name']} [{config.get('precision', '?')}, {config.get('division', 'closed')}"
                        + ("" if scenario == "benchmark" else f", {scenario}") + "]")
                results[name] = data
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


def serve_figures(name: str, r: dict[str, Any]) -> list[str]:
    """A serve run's figures: LoadGen's four scenarios per system under test."""
    lines = [f"{name}: {r['status']}" + (f" ({r['reason']})" if r.get("reason") else "") + f" — {r['device']['label']}"]
    bound = get(r, "metrics", "serving", "latency_bound_s")
    for server, s in (get(r, "metrics", "serving", "servers") or {}).items():
        if s.get("unavailable"):
            lines.append(f"  {server:<10} unavailable: {s['unavailable']}")
            continue
        lines += [
            f"  {server:<10} SingleStream p50 {fmt(ms(get(s, 'single_stream', 'latency_s', 'p50_s')), '.3f')} ms, "
            f"p99 {fmt(ms(get(s, 'single_stream', 'latency_s', 'p99_s')), '.3f')} ms (a bare batch-1 forward "
            f"{fmt(ms(get(s, 'calibration', 'batch1_forward_p50_s')), '.3f')} ms)",
            f"  {'':<10} Offline {fmt(get(s, 'offline', 'samples_per_s'), ',.0f')} samples/s; MultiStream p99 "
            f"{fmt(ms(get(s, 'multi_stream', 'latency_s', 'p99_s')), '.2f')} ms",
            f"  {'':<10} max Server QPS {fmt(s.get('max_qps'), ',.0f')} at p99 {fmt(ms(s.get('max_qps_p99_s')), '.1f')} "
            f"ms (bound {fmt(ms(bound), '.0f')} ms); overload {get(s, 'overload', 'validity')}",
        ]
    return lines


def ms(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds) * 1000


def check_serve(checks: Checks, name: str, r: dict[str, Any]) -> None:
    """A serve run: served predictions identical to the model's, the overload INVALID, no problem recorded."""
    if r["status"] != "ok":
        checks.add(f"{name} ran", None if r["status"] == "unavailable" else False, f"{r['status']}: {r.get('reason')}")
        return
    for server, s in (get(r, "metrics", "serving", "servers") or {}).items():
        if s.get("unavailable"):
            checks.add(f"{name} {server}", None, f"unavailable: {s['unavailable']}")
            continue
        acc = s.get("accuracy") or {}
        checks.add(f"{name} {server} served = model", acc.get("matches_model") is True,
                   f"accuracy {fmt(acc.get('accuracy'), '.4f')}, {acc.get('differing', '?')} of {acc.get('samples')} "
                   f"differ; audit {get(s, 'audit', 'differing')} of {get(s, 'audit', 'checked')} differ")
        checks.add(f"{name} {server} max QPS found, overload INVALID",
                   bool(s.get("max_qps")) and get(s, "overload", "validity") == "INVALID",
                   f"max {fmt(s.get('max_qps'), ',.0f')} QPS; overload {get(s, 'overload', 'validity')}")
        checks.add(f"{name} {server} no problem", not s.get("problems"), "; ".join(s.get("problems") or []) or "none")


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
        check_timers(checks, name, window, get(m, *path, "timer_agreement"))
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


def check_timers(checks: Checks, name: str, window: str, agreement: Mapping[str, Any] | None) -> None:
    """CUDA events against the host clock on the synchronised steps, as the record judged them."""
    if not agreement:
        checks.add(f"{name} CUDA events vs host clock ({window})", False, "no timer_agreement in the record")
        return
    status = agreement.get("status")
    ok = {"agrees": True, "disagrees": False}.get(str(status))
    detail = str(status)
    if ok is not None:
        detail += (f": median {agreement['p50_rel_diff'] * 100:+.2f}%, total {agreement['total_rel_diff'] * 100:+.2f}% "
                   f"over {agreement.get('steps')} synchronised steps (tolerance {agreement.get('tolerance', 0):.0%})")
    elif agreement.get("reason"):
        detail += f": {agreement['reason']}"
    checks.add(f"{name} CUDA events vs host clock ({window})", ok, detail)


def check_parity(checks: Checks, results: dict[str, dict[str, Any]]) -> None:
    """Each device's parity losses against the CPU reference's, over the steps both ran (the CPU reference
    runs the smoke preset: fewer parity steps than quick)."""
    try:
        from tweetbench.analysis.parity import compare_losses, tolerance_for
    except ImportError as exc:
        checks.add("parity vs CPU", None, f"tweetbench.analysis.parity not importable: {exc}")
        return
    cpus = [r for r in results.values() if r["device"]["kind"] == "cpu" and get(r, "metrics", "parity", "losses")]
    reference = get(cpus[0], "metrics", "parity", "losses") if cpus else None
    for name, r in results.items():
        losses = get(r, "metrics", "parity", "losses")
        if r["device"]["kind"] == "cpu" or not losses:
            continue
        if not reference:
            checks.add(f"{name} parity vs CPU", None, "no CPU reference with parity losses")
            continue
        steps = min(len(losses), len(reference))
        precision = str(get(r, "workload", "config", "precision") or "32-true")
        verdict = compare_losses(name, losses[:steps], reference[:steps], tolerance_for(precision))
        detail = (f"{verdict.verdict} over {steps} parity steps"
                  + (f", max |loss diff| {verdict.max_abs_diff:.2e} (tolerance {verdict.tolerance:.0e})"
                     if verdict.max_abs_diff is not None else "") + (f": {verdict.reason}" if verdict.reason else ""))
        checks.add(f"{name} parity vs CPU", {"match": True, "diverged": False}.get(verdict.verdict), detail)


def check_probes(checks: Checks, probes: Path | None) -> list[str]:
    """The sync-debug pass and the LSTM numerics probe (tweetbench probe): their lines, and one check each."""
    lines: list[str] = []
    if probes is None:
        return lines
    for check, module in (("sync", "syncdebug"), ("numerics", "numerics")):
        path = probes / f"{check}.json"
        if not path.is_file():
            checks.add(f"probe {check}", False, f"{path.name} missing: the probe did not finish")
            continue
        data = json.loads(path.read_text())
        try:
            import importlib

            summary_lines = importlib.import_module(f"tweetbench.harness.{module}").summary_lines
            lines += [line for result in data.get("passes", [data]) for line in summary_lines(result)]
        except ImportError as exc:
            lines.append(f"{check}: tweetbench not importable ({exc})")
        verdicts = ([p["verdict"] for p in data["passes"]] if check == "sync" else data.get("verdicts", []))
        for verdict in verdicts:
            ok = None if verdict.startswith("not applicable") else verdict.startswith("pass")
            checks.add(f"probe {check}", ok, verdict)
    return lines


def summarize(run_dirs: list[Path], probes: Path | None, idle_w: float | None, rehearsal: bool) -> int:
    results = load(run_dirs)
    if not results:
        print(f"no results in {', '.join(map(str, run_dirs))}")
        return 1
    served = {n: r for n, r in results.items() if r.get("scenario") == "serve"}
    results = {n: r for n, r in results.items() if n not in served}
    cpu = next((r for r in results.values() if r["device"]["kind"] == "cpu" and r["status"] == "ok"), None)
    print("== figures ==")
    for name, r in results.items():
        print("\n".join(figures(name, r, cpu)))
    for name, r in served.items():
        print("\n".join(serve_figures(name, r)))
    checks = Checks()
    for name, r in served.items():
        check_serve(checks, name, r)
    gpus = {n: r for n, r in results.items() if r["device"]["kind"] == "gpu"}
    for name, r in gpus.items():
        if r["status"] == "ok":
            check_gpu(checks, name, r, idle_w)
        else:
            checks.add(f"{name} ran", None if r["status"] == "unavailable" else False,
                       f"{r['status']}: {r.get('reason')}")
    if rehearsal:
        checks.add("GPU results", None, "a rehearsal on the CPU: no GPU result to check")
    elif not gpus:
        checks.add("GPU results", False, "no GPU result in the runs")
    check_parity(checks, results)
    probe_lines = check_probes(checks, probes)
    if probe_lines:
        print("== probes ==")
        print("\n".join(probe_lines))
    print("== checks ==")
    print("\n".join(checks.lines) or "  (none)")
    steps = [get(r, "metrics", "training", "raw_step_s") for r in gpus.values()]
    if any(steps):
        print(f"  (GPU median step {statistics.median(next(s for s in steps if s)) * 1e3:.3f} ms)")
    return 1 if checks.failed else 0


# --------------------------------------------------------------------------- packing


def pictures(work: Path) -> list[Path]:
    """The pictures the report links: the results' summary charts, then the first run's own plots."""
    runs = work / "results"
    found = [runs / name for name in ("summary-training.png", "summary-latency.png", "summary-batch256.png")]
    first = sorted(runs.glob("2*/"))
    if first:
        found += sorted((first[0] / "plots").glob("*.png"))
    return [path for path in found if path.is_file() and path.stat().st_size <= MAX_BYTES][:MAX_PICTURES]


def archive(work: Path, into: Path) -> list[str]:
    """Every JSON, Markdown and log file of the runs and probes in results.tar.gz; what was left out (too big)."""
    members = sorted(p for folder in ("results", "probes") for p in (work / folder).rglob("*")
                     if p.is_file() and p.suffix in (".json", ".md", ".log"))
    left_out: list[str] = []
    budget = MAX_BYTES * 3  # compressed JSON shrinks well; a file over 2 MiB is dropped first if it does not fit
    for limit in (None, 2 * 2**20):
        kept = [p for p in members if limit is None or p.stat().st_size <= limit]
        with tarfile.open(into / "results.tar.gz", "w:gz") as tar:
            for path in kept:
                tar.add(path, arcname=str(path.relative_to(work)))
        if (into / "results.tar.gz").stat().st_size <= MAX_BYTES or sum(p.stat().st_size for p in kept) > budget:
            left_out = [str(p.relative_to(work)) for p in members if p not in kept]
            break
    return left_out


def report_text(work: Path, shown: list[Path], left_out: list[str], elapsed: float) -> str:
    """gpu_check.md: what ran, how long, the summary and the pictures."""
    import platform

    import torch

    rehearsal = os.environ.get("REHEARSE") == "1"
    budget = os.environ.get("BUDGET_S", "?")
    lines = [f"# GPU check{' (rehearsal on the CPU)' if rehearsal else ''}", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}: Python "
             f"{platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}); "
             f"{elapsed:.0f} s of the {budget} s budget; "
             f"{'every step passed or was skipped' if os.environ.get('FAILED') == '0' else 'SOME STEP FAILED'}.", "",
             "| step | status | seconds | detail |", "|---|---|---|---|", os.environ.get("STEP_TABLE", ""), "",
             "## Summary", "", "```", (work / "summary.txt").read_text() if (work / "summary.txt").is_file()
             else "(no summary)", "```", ""]
    if shown:
        lines += ["## Pictures", ""] + [f"![{p.stem}]({p.name})" for p in shown] + [""]
    lines += ["Every record, probe result, run report and worker log is in `results.tar.gz`"
              + (f"; left out for size: {', '.join(left_out)}" if left_out else "") + "; the whole log is "
              "`gpu_check.log`.", ""]
    return "\n".join(lines)


def pack(work: Path, into: Path, elapsed: float) -> int:
    """At most 8 files in ``into`` (with the log gpu_check.sh adds), each <= 16 MiB; exit 1 if not."""
    into.mkdir(parents=True, exist_ok=True)
    shown = pictures(work)
    for path in shown:
        shutil.copyfile(path, into / path.name)
    if (work / "summary.txt").is_file():
        shutil.copyfile(work / "summary.txt", into / "summary.txt")
    left_out = archive(work, into)
    (into / "gpu_check.md").write_text(report_text(work, shown, left_out, elapsed), encoding="utf-8")
    files = [p for p in into.rglob("*") if p.is_file()]
    too_big = [p.name for p in files if p.stat().st_size > MAX_BYTES]
    print(f"packed {len(files)} files (+ gpu_check.log): " + ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in files))
    if len(files) + 1 > MAX_FILES or too_big:
        print(f"over the limits: {len(files) + 1} files (at most {MAX_FILES}); too big: {too_big}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", type=Path, nargs="*")
    parser.add_argument("--probes", type=Path, default=None, help="folder holding sync.json and numerics.json")
    parser.add_argument("--idle-power-w", type=float, default=None)
    parser.add_argument("--rehearsal", action="store_true", help="no GPU result is expected")
    parser.add_argument("--pack", type=Path, metavar="WORK", help="pack WORK's results into --into")
    parser.add_argument("--into", type=Path)
    parser.add_argument("--elapsed", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.pack is not None:
        if args.into is None:
            parser.error("--pack needs --into DIR")
        return pack(args.pack, args.into, args.elapsed)
    if not args.run_dirs:
        parser.error("give at least one run directory")
    return summarize(args.run_dirs, args.probes, args.idle_power_w, args.rehearsal)


if __name__ == "__main__":
    sys.exit(main())
