"""The tune run's report, ``tune.md``: Lightning's finders, the learning-rate curve and the batch-size sweep.

A pure renderer: the tune record in, Markdown out; the PNGs it links to are drawn by ``plots.py`` under the names
it defines.
"""

from __future__ import annotations

from collections.abc import Sequence

from tweetbench.records import K_COMMAND, K_DEVICE, K_RUN_ID, K_TIMING, K_WORKLOAD, Record
from tweetbench.report import plots
from tweetbench.report.cells import environment_line, fmt, pct, short_fingerprint, when


def _sizes(sizes: Sequence[int]) -> str:
    return "–" if not sizes else f"{sizes[0]}…{sizes[-1]}" if len(sizes) > 2 else ", ".join(map(str, sizes))


def finders_table(record: Record) -> str:
    """What ``Tuner.scale_batch_size`` and ``Tuner.lr_find`` suggested, and how each searched."""
    bs, lr = record["finders"]["batch_size"], record["finders"]["lr"]
    suggested_lr = "–" if lr["suggested"] is None else f"{lr['suggested']:.2e}"
    return "\n".join([
        "| finder | suggestion | how it searched |",
        "|---|---|---|",
        f"| batch size (`Tuner.scale_batch_size`, {bs['mode']} mode) | **{bs['suggested'] or '–'}** | "
        f"doubled from {bs['init_val']}, {bs['steps_per_trial']} steps per size, tried {_sizes(bs['tried'])}; "
        f"{bs['limited_by']} |",
        f"| learning rate (`Tuner.lr_find`) | **{suggested_lr}** | "
        f"{lr['steps_run']} steps from {lr['min_lr']:g} to {lr['max_lr']:g} at batch {lr['batch_size']} "
        f"(steepest descent of the smoothed loss); the workload trains at {lr['workload_lr']:g} |",
    ])


def sweep_table(sweep: Record) -> str:
    """One row per batch size swept: its status, throughput and accuracy, the peaks marked."""
    lines = ["| batch | status | steps | train samples/s | step p50 (ms) | val accuracy | val loss | note |",
             "|---|---|---|---|---|---|---|---|"]
    fast = (sweep.get("throughput_peak") or {}).get("batch_size")
    best = (sweep.get("accuracy_peak") or {}).get("batch_size")
    for p in sweep["points"]:
        if p["status"] != "ok":
            lines.append(f"| {p['batch_size']} | **{p['status']}** | – | – | – | – | – | {p['reason']} |")
            continue
        marks = [m for m, on in (("throughput peak", p["batch_size"] == fast),
                                 ("accuracy peak", p["batch_size"] == best)) if on]
        lines.append(f"| {p['batch_size']} | ok | {p['steps']} | {p['samples_per_s']:,.0f} | "
                     f"{p['step_ms']['p50']:.2f} | {pct(p.get('val_acc'))} | {fmt(p.get('val_loss'), 4)} | "
                     f"{', '.join(marks) or ''} |")
    return "\n".join(lines)


def sweep_words(record: Record) -> str:
    """The trade-off the sweep shows, in plain words."""
    sweep = record["sweep"]
    fast, best = sweep.get("throughput_peak"), sweep.get("accuracy_peak")
    words = []
    if fast:
        words.append(f"Throughput peaks at batch {fast['batch_size']} ({fast['samples_per_s']:,.0f} samples/s).")
    if best:
        words.append(f"Validation accuracy after the same {sweep['budget_samples']:,}-sample budget peaks at batch "
                     f"{best['batch_size']} ({pct(best['val_acc'])}).")
    if fast and best and fast["batch_size"] > best["batch_size"]:
        words.append("Larger batches run faster but take fewer optimizer steps in a fixed budget, so at a fixed "
                     "learning rate the fastest batch is not the most accurate one.")
    elif fast and best:
        words.append("Here the fastest batch is also at least as accurate as smaller ones.")
    failed = sweep.get("first_failure")
    if failed is not None:
        skipped = [p["batch_size"] for p in sweep["points"] if p["status"] == "not-run"]
        words.append(f"Batch {failed} did not fit in memory, so the sweep stopped there"
                     + (f" ({', '.join(map(str, skipped))} not run)." if skipped else "."))
        if record.get("memory_cap_fault") is not None:
            words.append(f"(This memory limit was a test fault: batches above {record['memory_cap_fault']} rows "
                         "asked the allocator for an impossible amount.)")
    return " ".join(words)


def render_tune_report(record: Record) -> str:
    """``tune.md``: the finders, the learning-rate curve, the sweep table and its plot."""
    wl, device, settings, sweep = record[K_WORKLOAD], record[K_DEVICE], record["settings"], record["sweep"]
    ok = [p for p in sweep["points"] if p["status"] == "ok"]
    lines = [
        f"# tweetbench tune {record[K_RUN_ID]}",
        "",
        f"Workload: {wl['name']} (fingerprint {short_fingerprint(wl['fingerprint'])}, precision "
        f"`{wl['config'].get('precision')}`) on {device['label']} (`{device['name']}`); settings "
        f"`{settings['name']}`; started {when((record.get(K_TIMING) or {}).get('started_at'))}.",
        "",
        f"Command: `{' '.join(record[K_COMMAND])}`",
        "",
        "## Lightning's finders",
        "",
        finders_table(record),
        "",
        f"![learning-rate finder]({plots.LR_PNG})",
        "",
        "## Batch-size sweep",
        "",
        f"Each size trains a fresh model from the same seeded initial weights on the same "
        f"{sweep['budget_samples']:,} training samples (same order) at learning rate {sweep['lr']:g}, then is "
        f"evaluated on the whole validation split at batch {sweep['eval_batch_size']}. Throughput is timed over "
        f"whole synchronised steps after {ok[0]['warmup_steps'] if ok else '–'} warm-up step(s).",
        "",
        sweep_table(sweep),
        "",
        f"![batch-size sweep]({plots.SWEEP_PNG})",
        "",
        sweep_words(record),
        "",
        environment_line(record),
    ]
    return "\n".join(lines) + "\n"
