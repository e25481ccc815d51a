"""The convergence run's report: time to accuracy per device, the curves, and each device's epochs.

Pure renderers: records in, Markdown out; the PNGs they link to are drawn by ``plots.py`` under the names it
defines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.records import K_DEVICE, K_ERROR_TAIL, K_METRICS, K_REASON, K_STATUS, K_WORKLOAD, Record
from tweetbench.records.run import R_PRESET, R_STARTED, R_WORKLOAD
from tweetbench.report import plots
from tweetbench.report.cells import environment_line, fmt, pct, run_document, when, workload_line
from tweetbench.report.division import division_section


def convergence(r: Record) -> Mapping[str, Any] | None:
    """The record's ``metrics.convergence`` section, or None where it has none (it did not train)."""
    return (r.get(K_METRICS) or {}).get("convergence")


def time_to_accuracy_cell(conv: Mapping[str, Any]) -> str:
    """``12.3 s``, or that the target was not reached and the best accuracy instead."""
    if conv["target_reached"]:
        return f"{conv['time_to_accuracy_s']:,.1f} s"
    return f"target not reached (best {pct(conv['best_val_acc'])})"


def convergence_table(results: Sequence[Record]) -> str:
    """One row per device: time to accuracy, epochs, accuracies and throughput."""
    lines = ["| device | status | target | time to accuracy | epochs to target | epochs run (best) | "
             "best val acc | test acc | train samples/s | note |", "|" + "---|" * 10]
    for r in results:
        conv = convergence(r)
        if conv is None:
            lines.append(f"| {r[K_DEVICE]['label']} | {r[K_STATUS]} |" + " – |" * 7 + f" {r[K_REASON]} |")
            continue
        lines.append(
            f"| {r[K_DEVICE]['label']} | {r[K_STATUS]} | {pct(conv['target_accuracy'])} | "
            f"{time_to_accuracy_cell(conv)} | {conv.get('epochs_to_accuracy') or '–'} | "
            f"{conv['epochs_run']} ({conv['best_epoch'] or '–'}) | {pct(conv['best_val_acc'])} | "
            f"{pct(conv['test_acc'])} | {fmt(conv.get('samples_per_s'), 0)} | "
            f"{'stopped early' if conv.get('stopped_early') else 'epoch cap reached'} |")
    return "\n".join(lines)


def convergence_words(results: Sequence[Record]) -> str:
    """What each device reached, in plain words."""
    sentences = []
    for r in results:
        conv = convergence(r)
        if conv is None:
            state = "was not run" if r[K_STATUS] == "unavailable" else f"is {r[K_STATUS]}"
            sentences.append(f"{r[K_DEVICE]['name']} {state}: {r[K_REASON]}.")
            continue
        head = f"{r[K_DEVICE]['label']} trained {r[K_WORKLOAD]['name']}"
        if conv["target_reached"]:
            head += (f" to {pct(conv['target_accuracy'])} validation accuracy in {conv['time_to_accuracy_s']:,.1f} s "
                     f"(epoch {conv['epochs_to_accuracy']})")
        else:
            head += (f" without reaching the {pct(conv['target_accuracy'])} target: the best validation accuracy "
                     f"was {pct(conv['best_val_acc'])}")
        sentences.append(f"{head}; it ran {conv['epochs_run']} epochs, the best at epoch {conv['best_epoch']}, and "
                         f"scored {pct(conv['test_acc'])} on the test split.")
    if not any(convergence(r) for r in results):
        sentences.append("No device trained the model in this run.")
    return " ".join(sentences)


def epochs_table(conv: Mapping[str, Any]) -> str:
    """Every epoch's losses, accuracies and wall time, the best epoch starred."""
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
    """One device's details: time to accuracy, the epochs, the early stopping, the test, the training."""
    out = [f"### {r[K_DEVICE]['label']} — `{r[K_DEVICE]['name']}`", "",
           f"Status: **{r[K_STATUS]}**" + (f" — {r[K_REASON]}" if r[K_REASON] else "")]
    conv = convergence(r)
    if conv is None:
        tail = r.get(K_ERROR_TAIL) or []
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
        "", epochs_table(conv), "", environment_line(r),
    ]
    return "\n".join(out)


def curves_section(results: Sequence[Record]) -> str:
    """Links to the curves' and the time-to-accuracy PNGs (every device on the same axes)."""
    if not any(convergence(r) for r in results):
        return "No curves: no device trained the model."
    several = sum(1 for r in results if convergence(r)) > 1
    lines = ["Every device is drawn on the same axes." if several else "One device ran.", ""]
    for key, name in plots.CURVE_PNGS.items():
        lines += [f"![{plots.CURVE_LABELS[key]}]({name})", ""]
    lines.append(f"![time to accuracy]({plots.TTA_PNG})")
    return "\n".join(lines)


PROTOCOL = (
    "Protocol: train on the whole training split with the same seed and batch order on every device, validate on "
    "the whole validation split after every epoch, stop when the validation loss has not improved for the patience, "
    "and test the best epoch's weights. Time to accuracy is the wall time from the first training step until the "
    "end of the validation pass that first reaches the target."
)


def render_convergence_report(meta: Mapping[str, Any], results: Sequence[Record]) -> str:
    """The report of one convergence run: the table, the plain words, the curves, then each device."""
    about = (f"{workload_line(results, meta.get(R_WORKLOAD))}; preset `{meta.get(R_PRESET)}`; scenario "
             f"`convergence`; started {when(meta.get(R_STARTED))}.")
    body = [PROTOCOL, "", convergence_table(results), "", convergence_words(results), "", *division_section(results),
            "## Curves", "", curves_section(results), ""]
    return run_document("tweetbench convergence run", meta, about, body,
                        [convergence_device_section(r) for r in results])
