"""Pure Markdown renderers for the study's protocol: the tune run, the convergence run and the variants.

Records in, text out; the PNGs they link to are drawn by ``plots.py`` under the names it defines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.report import plots
from tweetbench.report.cells import fmt, pct
from tweetbench.report.division import division_section
from tweetbench.workload import variants

Record = Mapping[str, Any]
UNSUPPORTED = "unsupported on this device"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "–"
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _short(fingerprint: str | None) -> str:
    return f"`{fingerprint[:19]}…`" if fingerprint else "–"


def _environment(env: Mapping[str, Any]) -> str:
    return (f"Environment: {env.get('cpu_model', '?')}, {env.get('cpu_cores_logical', '?')} logical cores, "
            f"{env.get('torch_threads', '?')} torch threads; Python {env.get('python', '?')}, torch "
            f"{env.get('torch', '?')}, Lightning {env.get('pytorch_lightning', '?')}.")


# -- tune ---------------------------------------------------------------------------------------------
def _sizes(sizes: Sequence[int]) -> str:
    return "–" if not sizes else f"{sizes[0]}…{sizes[-1]}" if len(sizes) > 2 else ", ".join(map(str, sizes))


def finders_table(record: Record) -> str:
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
    wl, device, settings, sweep = record["workload"], record["device"], record["settings"], record["sweep"]
    ok = [p for p in sweep["points"] if p["status"] == "ok"]
    lines = [
        f"# tweetbench tune {record['run_id']}",
        "",
        f"Workload: {wl['name']} (fingerprint {_short(wl['fingerprint'])}, precision "
        f"`{wl['config'].get('precision')}`) on {device['label']} (`{device['name']}`); settings "
        f"`{settings['name']}`; started {_when((record.get('timing') or {}).get('started_at'))}.",
        "",
        f"Command: `{' '.join(record['command'])}`",
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
        _environment(record.get("environment") or {}),
    ]
    return "\n".join(lines) + "\n"


# -- convergence --------------------------------------------------------------------------------------
def _conv(r: Record) -> Mapping[str, Any] | None:
    return (r.get("metrics") or {}).get("convergence")


def time_to_accuracy_cell(conv: Mapping[str, Any]) -> str:
    if conv["target_reached"]:
        return f"{conv['time_to_accuracy_s']:,.1f} s"
    return f"target not reached (best {pct(conv['best_val_acc'])})"


def convergence_table(results: Sequence[Record]) -> str:
    """One row per device: time to accuracy, epochs, accuracies and throughput."""
    lines = ["| device | status | target | time to accuracy | epochs to target | epochs run (best) | "
             "best val acc | test acc | train samples/s | note |", "|" + "---|" * 10]
    for r in results:
        conv = _conv(r)
        if conv is None:
            lines.append(f"| {r['device']['label']} | {r['status']} |" + " – |" * 7 + f" {r['reason']} |")
            continue
        lines.append(
            f"| {r['device']['label']} | {r['status']} | {pct(conv['target_accuracy'])} | "
            f"{time_to_accuracy_cell(conv)} | {conv.get('epochs_to_accuracy') or '–'} | "
            f"{conv['epochs_run']} ({conv['best_epoch'] or '–'}) | {pct(conv['best_val_acc'])} | "
            f"{pct(conv['test_acc'])} | {fmt(conv.get('samples_per_s'), 0)} | "
            f"{'stopped early' if conv.get('stopped_early') else 'epoch cap reached'} |")
    return "\n".join(lines)


def convergence_words(results: Sequence[Record]) -> str:
    sentences = []
    for r in results:
        conv = _conv(r)
        if conv is None:
            state = "was not run" if r["status"] == "unavailable" else f"is {r['status']}"
            sentences.append(f"{r['device']['name']} {state}: {r['reason']}.")
            continue
        head = f"{r['device']['label']} trained {r['workload']['name']}"
        if conv["target_reached"]:
            head += (f" to {pct(conv['target_accuracy'])} validation accuracy in {conv['time_to_accuracy_s']:,.1f} s "
                     f"(epoch {conv['epochs_to_accuracy']})")
        else:
            head += (f" without reaching the {pct(conv['target_accuracy'])} target: the best validation accuracy "
                     f"was {pct(conv['best_val_acc'])}")
        sentences.append(f"{head}; it ran {conv['epochs_run']} epochs, the best at epoch {conv['best_epoch']}, and "
                         f"scored {pct(conv['test_acc'])} on the test split.")
    if not any(_conv(r) for r in results):
        sentences.append("No device trained the model in this run.")
    return " ".join(sentences)


def epochs_table(conv: Mapping[str, Any]) -> str:
    c = conv["curves"]
    lines = ["| epoch | train loss | train acc | val loss | val acc | wall (s) |", "|---|---|---|---|---|---|"]
    for i, epoch in enumerate(c["epoch"]):
        mark = " ★" if epoch == conv.get("best_epoch") else ""
        lines.append(f"| {epoch}{mark} | {fmt(c['train_loss'][i], 4)} | {pct(c['train_acc'][i])} | "
                     f"{fmt(c['val_loss'][i], 4)} | {pct(c['val_acc'][i])} | {fmt(c['wall_s'][i], 1)} |")
    return "\n".join(lines)


def _counter_lines(conv: Mapping[str, Any]) -> list[str]:
    """What the device runtime counted (XLA: graph compiles), which the times above include."""
    counters = conv.get("device_counters") or {}
    lines = []
    for key, label in (("to_accuracy", "until the target"), ("fit", "over the whole training")):
        c = counters.get(key) or {}
        if c.get("compile_count"):
            lines.append(f"- Device runtime {label}: {c['compile_count']} graph compiles taking "
                         f"{c.get('compile_s', 0.0):,.1f} s (included in the times above).")
    return lines


def convergence_device_section(r: Record) -> str:
    out = [f"### {r['device']['label']} — `{r['device']['name']}`", "",
           f"Status: **{r['status']}**" + (f" — {r['reason']}" if r["reason"] else "")]
    conv = _conv(r)
    if conv is None:
        tail = r.get("error_tail") or []
        if tail:
            out += ["", "Last lines of its error:", "", "```", *tail[-10:], "```"]
        return "\n".join(out)
    es = conv["early_stopping"]
    tta_train = conv.get("time_to_accuracy_train_s")
    out += [
        "",
        f"- Time to {pct(conv['target_accuracy'])} validation accuracy: {time_to_accuracy_cell(conv)}"
        + (f" ({tta_train:,.1f} s of it training, the rest validation)" if tta_train is not None else "") + ".",
        f"- Epochs: {conv['epochs_run']} of at most {conv['max_epochs']}; early stopping on `{es['monitor']}` "
        f"({es['mode']}, patience {es['patience']}); best epoch {conv['best_epoch']} (val loss "
        f"{fmt(conv.get('best_val_loss'), 4)}); best val accuracy {pct(conv['best_val_acc'])} at epoch "
        f"{conv.get('best_val_acc_epoch') or '–'}.",
        f"- Test accuracy {pct(conv['test_acc'])} (loss {fmt(conv.get('test_loss'), 4)}) on "
        f"{conv.get('test_samples', '–')} test tweets, with the weights of the {conv.get('test_weights', '?')}.",
        f"- Training: batch {conv['batch_size']}, lr {conv['lr']:g}, precision `{conv['precision']}`, "
        f"{fmt(conv.get('samples_per_s'), 0)} samples/s over {fmt(conv.get('train_s'), 1)} s of training "
        f"({fmt(conv.get('fit_wall_s'), 1)} s with validation).",
        *_counter_lines(conv),
        f"- TensorBoard logs: `{conv['tensorboard_dir']}` in this run's directory "
        f"(`tensorboard --logdir {conv['tensorboard_dir']}`).",
        "", epochs_table(conv), "", _environment(r.get("environment") or {}),
    ]
    return "\n".join(out)


def curves_section(results: Sequence[Record]) -> str:
    if not any(_conv(r) for r in results):
        return "No curves: no device trained the model."
    several = sum(1 for r in results if _conv(r)) > 1
    lines = ["Every device is drawn on the same axes." if several else "One device ran.", ""]
    for key, name in plots.CURVE_PNGS.items():
        lines += [f"![{plots.CURVE_LABELS[key]}]({name})", ""]
    lines.append(f"![time to accuracy]({plots.TTA_PNG})")
    return "\n".join(lines)


def render_convergence_report(meta: Mapping[str, Any], results: Sequence[Record]) -> str:
    """The report of one convergence run: the table, the plain words, the curves, then each device."""
    status = meta.get("status", "?")
    lines = [f"# tweetbench convergence run {meta['run_id']}", ""]
    if status != "complete":
        lines += [f"> **This run is {status}**: only the devices listed below finished.", ""]
    names = sorted({r["workload"]["name"] for r in results}) or [str(meta.get("workload"))]
    prints = sorted({_short(r["workload"].get("fingerprint")) for r in results if r["workload"].get("fingerprint")})
    lines += [
        f"Workload: {', '.join(names)} (fingerprint {', '.join(prints) or '–'}); preset `{meta.get('preset')}`; "
        f"scenario `convergence`; started {_when(meta.get('started_at'))}.",
        "",
        f"Command: `{' '.join(meta.get('command') or [])}`",
        "",
        "Protocol: train on the whole training split with the same seed and batch order on every device, "
        "validate on the whole validation split after every epoch, stop when the validation loss has not "
        "improved for the patience, and test the best epoch's weights. Time to accuracy is the wall time "
        "from the first training step until the end of the validation pass that first reaches the target.",
        "",
        convergence_table(results),
        "",
        convergence_words(results),
        "",
        *division_section(results),
        "## Curves",
        "",
        curves_section(results),
        "",
        "## Devices",
        "",
    ]
    lines += [convergence_device_section(r) + "\n" for r in results]
    return "\n".join(lines).rstrip() + "\n"


# -- variants side by side ----------------------------------------------------------------------------
def _started(r: Record) -> float:
    return float((r.get("timing") or {}).get("started_at") or 0.0)


def latest_variants(results: Sequence[Record]) -> list[Record]:
    """The newest record per (variant, device, scenario); a device that lacks a precision is kept, one
    that is absent from the machine is not."""
    newest: dict[tuple[str, str, str], Record] = {}
    for r in results:
        if r["status"] == "unavailable" and not str(r.get("reason", "")).startswith(UNSUPPORTED):
            continue
        if r["status"] == "failed":
            continue
        key = (r["workload"]["name"], r["device"]["name"], str(r.get("scenario") or "benchmark"))
        if key not in newest or _started(r) > _started(newest[key]):
            newest[key] = r
    return sorted(newest.values(), key=lambda r: (r["device"]["name"], r["workload"]["name"]))


def _throughput(r: Record | None) -> float | None:
    if r is None or r["status"] != "ok":
        return None
    metrics = r.get("metrics") or {}
    if "training" in metrics:
        return metrics["training"].get("samples_per_s")
    return (metrics.get("convergence") or {}).get("samples_per_s")


def variant_rows(results: Sequence[Record]) -> list[dict[str, Any]]:
    """One row per (variant, device): its benchmark and convergence records and its reference's."""
    chosen = latest_variants(results)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in chosen:
        key = (r["device"]["name"], r["workload"]["name"])
        row = rows.setdefault(key, {"device": r["device"], "workload": r["workload"], "benchmark": None,
                                    "convergence": None})
        row[str(r.get("scenario") or "benchmark")] = r
        if r["workload"].get("fingerprint"):
            row["workload"] = r["workload"]
    for row in rows.values():
        config = row["workload"]["config"]
        row["reference"] = next(
            (other for other in rows.values()
             if other["device"]["name"] == row["device"]["name"] and variants.is_reference(other["workload"]["config"])
             and variants.family_key(other["workload"]["config"]) == variants.family_key(config)), None)
    return sorted(rows.values(), key=lambda row: (row["device"]["name"], not variants.is_reference(
        row["workload"]["config"]), row["workload"]["name"]))


def _ratio(row: Mapping[str, Any], scenario: str) -> float | None:
    ref = row["reference"]
    if ref is None:
        return None
    mine, base = _throughput(row[scenario]), _throughput(ref[scenario])
    return mine / base if mine and base else None


def _note(row: Mapping[str, Any]) -> str:
    notes = [r["reason"] for r in (row["benchmark"], row["convergence"]) if r is not None and r["status"] != "ok"]
    return "; ".join(dict.fromkeys(notes))


def variants_table(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| device | variant | direction | precision | fingerprint | train samples/s | step p50 (ms) | "
             "batch-1 p50 (ms) | throughput vs fp32 BiLSTM | time to accuracy | best val acc | test acc | "
             "epochs (best) | note |", "|" + "---|" * 14]
    for row in rows:
        config = row["workload"]["config"]
        bench = row["benchmark"] if row["benchmark"] is not None and row["benchmark"]["status"] == "ok" else None
        conv_rec = row["convergence"]
        conv = _conv(conv_rec) if conv_rec is not None and conv_rec["status"] == "ok" else None
        train = bench["metrics"].get("training") or {} if bench else {}
        latency = (bench["metrics"].get("inference") or {}).get("latency_batch1_ms") or {} if bench else {}
        ratio = _ratio(row, "benchmark")
        source = "" if ratio is not None else "†"
        if ratio is None:
            ratio = _ratio(row, "convergence")
        speed = train.get("samples_per_s") or (conv or {}).get("samples_per_s")
        epochs = f"{conv['epochs_run']} ({conv['best_epoch']})" if conv else "–"
        marks = (source if speed and not train else "") + (" (noisy)" if bench and bench.get("noisy") else "")
        lines.append(
            f"| {row['device']['label']} | {row['workload']['name']} | {variants.direction(config)} | "
            f"{variants.precision_label(config)} | {_short(row['workload'].get('fingerprint'))} | "
            f"{fmt(speed, 0)}{marks} | "
            f"{fmt((train.get('step_ms') or {}).get('p50'), 2)} | {fmt(latency.get('p50'), 3)} | "
            f"{'reference' if row['reference'] is row else fmt(ratio, 2, '×')} | "
            f"{time_to_accuracy_cell(conv) if conv else '–'} | {pct((conv or {}).get('best_val_acc'))} | "
            f"{pct((conv or {}).get('test_acc'))} | "
            f"{epochs} | {_note(row)} |")
    return "\n".join(lines)


def variants_words(rows: Sequence[Mapping[str, Any]]) -> str:
    sentences = []
    for row in rows:
        config, ref = row["workload"]["config"], row["reference"]
        name, device = row["workload"]["name"], row["device"]["label"]
        note = _note(row)
        if note and UNSUPPORTED in note:
            sentences.append(f"{name} on {device}: {note}.")
            continue
        if ref is None or ref is row:
            continue
        parts = []
        ratio = _ratio(row, "benchmark") or _ratio(row, "convergence")
        if ratio is not None:
            parts.append(f"{ratio:.2f}× the fp32 BiLSTM's training throughput")
        mine, base = _conv(row["convergence"] or {}), _conv(ref["convergence"] or {})
        if mine and base and mine.get("test_acc") is not None and base.get("test_acc") is not None:
            delta = (mine["test_acc"] - base["test_acc"]) * 100
            parts.append(f"test accuracy {pct(mine['test_acc'])} against {pct(base['test_acc'])} "
                         f"({delta:+.1f} points)")
        if parts:
            sentences.append(f"{name} ({variants.direction(config)}, {variants.precision_label(config)}) on "
                             f"{device}: {'; '.join(parts)}.")
    return " ".join(sentences)


def render_variants(results: Sequence[Record]) -> str:
    """``variants.md``: the newest result of every workload variant on every device, side by side."""
    rows = variant_rows(results)
    lines = ["# tweetbench workload variants", ""]
    if not rows:
        return "\n".join(lines + ["No variant has results yet: run e.g. `tweetbench run --workload v1,v1-uni "
                                  "--precision 32-true,bf16-mixed` (add `--scenario convergence` for accuracy).", ""])
    runs = sorted({str(r.get("run_id")) for row in rows for r in (row["benchmark"], row["convergence"]) if r})
    lines += [
        "Each variant has its own name and fingerprint. Speed comes from the benchmark scenario, accuracy from the "
        "convergence scenario; † marks a throughput taken from the convergence run because the variant has no "
        "benchmark result. The rows come from separate runs "
        f"({', '.join(runs)}): on a shared machine, differences of a few tens of percent can be run-to-run noise.",
        "",
        variants_table(rows),
        "",
        variants_words(rows),
        "",
        "Rendered from the JSON results by `tweetbench report`; do not edit by hand.",
    ]
    return "\n".join(lines) + "\n"
