"""The open division on one device: choose its knobs, measure them against closed, then run the open result.

1. **Catalog.** Every knob the device is offered (``DeviceBackend.open_knobs``); one that cannot run
   here is recorded and dropped with torch's reason.
2. **Accuracy gate, per knob.** A short parity pass with the knob (dropout off, the same first
   batches, the same initial weights) against closed's: a knob that moves the losses beyond the
   precision's tolerance is dropped before it is timed.
3. **Ablation.** Closed and every remaining knob in interleaved rounds of short training blocks
   (``harness/ablation.py``); each knob is kept or dropped by its speedup's interval.
4. **The open result.** The kept knobs combined (fastest first, never two alternatives), measured in
   new interleaved rounds against closed and against the best single knob: the fastest of them
   that is resolved faster than closed is the open result; if none is, open computes closed's step.
5. **Inference.** Batch-1 latency and batch-256 throughput, open against closed, interleaved.
6. **The benchmark** (``scenarios/benchmark.py``) with the open result's module: the record's figures.
7. **Accuracy gate, on the result.** Its parity losses against closed's; under ``--scenario
   convergence`` also its epochs to the target against closed's + 1. A violation makes it ``invalid``.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tweetbench import faults
from tweetbench.analysis import division
from tweetbench.config import DeviceJob, Knob, StepOptions
from tweetbench.devices import DeviceBackend
from tweetbench.devices import knobs as device_knobs
from tweetbench.errors import one_line
from tweetbench.harness.ablation import Arm, Block, infer_rounds, median_sample, prime, train_rounds
from tweetbench.harness.knobs import CLOSED, open_module
from tweetbench.harness.parity import run_parity
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.scenarios.benchmark import run_benchmark
from tweetbench.scenarios.convergence import run_convergence
from tweetbench.scenarios.knob_process import measure_in_processes
from tweetbench.scenarios.outcome import Outcome
from tweetbench.workload.dataset import TweetData

OPEN = "open"


@dataclass
class OpenContext:
    """What every step of the open division shares on one device."""

    job: DeviceJob
    backend: DeviceBackend
    data: TweetData
    initial: nn.Module  # the workload's initial weights, copied before anything trains
    progress: ProgressEmitter
    log_metrics: bool = False
    work_dir: Path | None = None  # where a knob measured in processes of its own keeps its files and logs

    @property
    def block(self) -> Block:
        wl, preset = self.job.workload, self.job.preset
        return Block(wl.batch_size, wl.seed, wl.precision, preset.min_warmup_steps, preset.overhead_steps)

    def module(self, options: StepOptions) -> Any:
        base = self.backend.optimizer_options(self.job.workload.precision)
        return open_module(self.initial, self.job.workload.lr, base, options, log_metrics=self.log_metrics)

    def parity(self, options: StepOptions) -> list[float | None]:
        return self.timed_parity(options)[0]

    def timed_parity(self, options: StepOptions) -> tuple[list[float | None], float]:
        """The parity pass's losses with ``options``, and its wall time (the process's first compile lands here)."""
        wl = self.job.workload
        started = time.perf_counter()
        losses = run_parity(self.initial, self.backend, self.data.train, batch_size=wl.batch_size, seed=wl.seed,
                            lr=wl.lr, steps=self.job.preset.parity_steps, precision=wl.precision,
                            options=options)["losses"]
        return losses, time.perf_counter() - started


@dataclass
class Selection:
    """What the ablation chose: every knob's row, the closed arm and the open result's arm."""

    rows: list[dict[str, Any]]
    closed: Arm
    result: Arm
    applied: list[str]
    choice_reason: str
    training: dict[str, Any]
    closed_parity: list[float | None]
    compile: dict[str, Any] = dataclasses.field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"knobs": self.rows, "applied": self.applied, "choice_reason": self.choice_reason,
                "keep_rule": division.KEEP_RULE, "options": self.result.options.to_dict(),
                "training": self.training, "compile": self.compile or division.payback(None, None, None)}


def catalog(job: DeviceJob, backend: DeviceBackend) -> list[Knob]:
    """The device's knobs, and the broken one when a test fault asks for it."""
    offered = backend.open_knobs(job.workload.precision)
    if faults.device_fault(job.device) in (faults.BROKEN_KNOB, faults.BROKEN_OPEN):
        offered.append(device_knobs.broken())
    return offered


def _row(knob: Knob) -> dict[str, Any]:
    return {"name": knob.name, "knob": knob.knob, "option": knob.option, "setting": knob.setting,
            "supported": not knob.problem, "problem": knob.problem, "speedup": None, "ci95": None, "rounds": 0,
            "decision": "dropped", "why": f"unsupported here: {knob.problem}" if knob.problem else "",
            "parity_max_abs_diff": None, "compile_s": None}


def _gate_knobs(ctx: OpenContext, offered: list[Knob], rows: dict[str, dict[str, Any]],
                closed: tuple[list[float | None], float]) -> list[Knob]:
    """The supported knobs whose short parity pass matches closed's losses; the others' rows say why not.

    A knob that compiles does its first compile here (torch.compile's caches serve every later module of
    the process): its pass's wall time over closed's is its compile time.
    """
    closed_losses, closed_s = closed
    passing = []
    ctx.progress.start_phase("open: accuracy gate per knob", len(offered))
    for i, knob in enumerate(offered):
        ctx.progress.step(i + 1)
        if knob.problem or ctx.backend.process_env(knob.options):
            continue  # a knob set before the device library loads is gated in its own process (_in_processes)
        row = rows[knob.name]
        try:
            losses, seconds = ctx.timed_parity(knob.options)
            gate = division.parity_gate(closed_losses, losses, ctx.job.workload.precision)
        except Exception as exc:  # a knob that does not work here costs only its own row
            row["why"] = f"failed: {one_line(exc, limit=300)}"
            continue
        row["parity_max_abs_diff"] = gate["max_abs_diff"]
        if knob.options.compile_backend is not None:
            row["compile_s"] = max(seconds - closed_s, 0.0)
        if gate["verdict"] != "match":
            row["why"] = f"fails the accuracy gate: {gate['reason']}"
            continue
        passing.append(knob)
    return passing


def _ablate(ctx: OpenContext, passing: list[Knob], rows: dict[str, dict[str, Any]]) -> list[Arm]:
    """Closed and every passing knob, interleaved; fills each knob's row. Returns the arms, closed first."""
    arms = [Arm("closed", CLOSED, ctx.module(CLOSED))] + [Arm(k.name, k.options, ctx.module(k.options))
                                                          for k in passing]
    rounds = ctx.job.preset.overhead_rounds
    done = [0]

    def tick() -> None:
        done[0] += 1
        ctx.progress.step(done[0])

    ctx.progress.start_phase("open: ablation", len(arms) * (rounds + 1))
    prime(arms, ctx.backend, ctx.data.train, ctx.block, tick)
    train_rounds(arms, ctx.backend, ctx.data.train, ctx.block, rounds, tick)
    closed = arms[0]
    for arm in arms[1:]:
        row = rows[arm.name]
        if arm.error:
            row["why"] = f"failed: {arm.error}"
            continue
        row.update(division.speedup(arm.blocks, closed.blocks))
        row["decision"], row["why"] = division.decide(row)
    return arms


def _in_processes(ctx: OpenContext, offered: list[Knob], rows: dict[str, dict[str, Any]],
                  closed_losses: list[float | None]) -> None:
    """The knobs that must be set before the device library loads: each gated and measured against closed in two
    worker processes of its own, driven ABBA (``knob_process.py``). Not combined into the open result."""
    for knob in offered:
        env = ctx.backend.process_env(knob.options)
        if knob.problem or not env:
            continue
        work_dir = ctx.work_dir or Path(tempfile.mkdtemp(prefix="tweetbench-knob-"))
        row = rows[knob.name]
        row.update(measure_in_processes(ctx.job, knob, env, ctx.initial, closed_losses,
                                        work_dir / f"knobs-{ctx.job.device.replace(':', '-')}",
                                        ctx.progress))
        if row["decision"] == "kept":
            row["why"] += (f"; not applied to the open result, which runs in this process's torch_xla: run with "
                           f"--xla-functionalization {knob.option} to use it")


def _compile_s(applied: list[str], rows: dict[str, dict[str, Any]]) -> float | None:
    """The compile time of the open result: its compiling knob's, from the per-knob gate pass."""
    times = [rows[name]["compile_s"] for name in applied if rows[name]["compile_s"] is not None]
    return sum(times) if times else None


def _fresh(arm: Arm) -> Arm:
    """The arm for new rounds: the same module (already primed), no blocks yet."""
    return dataclasses.replace(arm, blocks=[])


@dataclass
class Final:
    """The final rounds: closed's arm in them, the open result's arm, its knobs, why, and its speedup figures."""

    closed: Arm
    result: Arm
    applied: list[str]
    reason: str
    figures: dict[str, Any]


def _final(ctx: OpenContext, arms: list[Arm], rows: dict[str, dict[str, Any]]) -> Final:
    """The open result: the combination of the kept knobs against closed and the best single knob, interleaved."""
    # A knob measured in processes of its own cannot join this process's step (torch_xla already loaded).
    kept = [row for row in rows.values() if row["decision"] == "kept" and not row.get("isolation")]
    if not kept:
        return Final(arms[0], arms[0], [], "no knob was resolved faster than closed: the open result computes "
                     "closed's step", {})
    names = division.combine(kept, device_knobs.KNOB_FIELDS)
    by_name = {arm.name: arm for arm in arms}
    best_single = max(kept, key=lambda row: row["speedup"] or 0.0)["name"]
    candidates = [_fresh(by_name[best_single])]
    if len(names) > 1:
        options = CLOSED
        for name in names:
            options = options.merged(by_name[name].options)
        combination = Arm(" + ".join(names), options, ctx.module(options))
        prime([combination], ctx.backend, ctx.data.train, ctx.block)
        candidates.append(combination)
    final = [_fresh(arms[0]), *[arm for arm in candidates if not arm.error]]
    ctx.progress.start_phase("open: combination against closed", len(final) * ctx.job.preset.overhead_rounds)
    train_rounds(final, ctx.backend, ctx.data.train, ctx.block, ctx.job.preset.overhead_rounds)
    scored = [(arm, division.speedup(arm.blocks, final[0].blocks)) for arm in final[1:] if not arm.error]
    faster = [(arm, fig) for arm, fig in scored if division.decide(fig)[0] == "kept"]
    if not faster:
        tried = "; ".join(f"{arm.name}: {division.decide(fig)[1]}" for arm, fig in scored) or "none ran"
        return Final(final[0], final[0], [], "no combination was resolved faster than closed in the final rounds "
                     f"({tried}): the open result computes closed's step", {})
    best, figures = max(faster, key=lambda pair: pair[1]["speedup"])
    applied = names if best.name == " + ".join(names) and len(names) > 1 else [best.name]
    what = "the combination of the kept knobs" if len(applied) > 1 else "the best single knob"
    return Final(final[0], best, applied, f"{what}: {division.decide(figures)[1]} against closed", figures)


def select(ctx: OpenContext) -> Selection:
    """Steps 1-4: the catalog, the per-knob gate, the ablation and the open result."""
    offered = catalog(ctx.job, ctx.backend)
    rows = {knob.name: _row(knob) for knob in offered}
    closed = ctx.timed_parity(CLOSED)
    closed_losses = closed[0]
    if faults.device_fault(ctx.job.device) == faults.BROKEN_OPEN:
        broken = next(k for k in offered if k.options.broken)
        arm = Arm(broken.name, broken.options, ctx.module(broken.options))
        for row in rows.values():
            row["why"] = row["why"] or "not measured: test fault broken-open skips the ablation"
        rows[broken.name].update(decision="kept", why="test fault broken-open: applied without its gates")
        return Selection(list(rows.values()), Arm("closed", CLOSED, ctx.module(CLOSED)), arm, [broken.name],
                         "test fault broken-open: the broken knob is the open result", {}, closed_losses)
    passing = _gate_knobs(ctx, offered, rows, closed)
    arms = _ablate(ctx, passing, rows)
    _in_processes(ctx, offered, rows, closed_losses)
    final = _final(ctx, arms, rows)
    closed_s, open_s = median_sample(final.closed), median_sample(final.result)
    training = {**final.figures, "closed_samples_per_s": _per_s(ctx, closed_s),
                "open_samples_per_s": _per_s(ctx, open_s)} if final.figures else {}
    compile_cost = division.payback(_compile_s(final.applied, rows), closed_s, open_s)
    return Selection(list(rows.values()), final.closed, final.result, final.applied,
                     final.reason + isolated_note(rows), training, closed_losses, compile_cost)


def isolated_note(rows: dict[str, dict[str, Any]]) -> str:
    """What the choice leaves out: the kept knobs measured in processes of their own ('' if none)."""
    kept = [name for name, row in rows.items() if row.get("isolation") and row["decision"] == "kept"]
    if not kept:
        return ""
    return (f"; {', '.join(kept)} {'was' if len(kept) == 1 else 'were'} resolved faster in processes of "
            "its own and cannot join this process's step (see its row)")


def _per_s(ctx: OpenContext, step_s: float | None) -> float | None:
    return None if not step_s else ctx.job.workload.batch_size / step_s


def _inference(ctx: OpenContext, closed: Arm, result: Arm) -> dict[str, Any]:
    """Batch-1 latency and batched throughput, open against closed, in interleaved rounds of predict blocks."""
    wl, preset = ctx.job.workload, ctx.job.preset
    rounds = max(3, preset.overhead_rounds // 2)
    latency = Block(1, wl.seed, wl.precision, max(5, preset.latency_warmup // 5),
                    max(10, preset.latency_requests // 10))
    offline = Block(preset.offline_batch_size, wl.seed, wl.precision, preset.offline_warmup_batches,
                    max(2, preset.offline_batches // 8))
    out: dict[str, Any] = {}
    for key, block, overlap in (("inference_batch1", latency, False), ("inference_offline", offline, True)):
        arms = [_fresh(closed), _fresh(result)]
        ctx.progress.start_phase(f"open: {key.replace('_', ' ')} against closed", 2 * rounds)
        infer_rounds(arms, ctx.backend, ctx.data.val, block, rounds, overlap=overlap)
        if any(arm.error for arm in arms):
            out[key] = {"error": "; ".join(f"{arm.name}: {arm.error}" for arm in arms if arm.error)}
            continue
        figures = division.speedup(arms[1].blocks, arms[0].blocks)
        closed_s, open_s = median_sample(arms[0]), median_sample(arms[1])
        if overlap:
            figures.update(batch_size=block.batch_size, closed_samples_per_s=block.batch_size / closed_s,
                           open_samples_per_s=block.batch_size / open_s)
        else:
            figures.update(closed_p50_ms=closed_s * 1e3, open_p50_ms=open_s * 1e3)
        out[key] = figures
    return out


def _judge(outcome: Outcome, gate: dict[str, Any]) -> None:
    """The open result is ``invalid`` when it fails the accuracy gate, with the reason."""
    reasons = []
    if gate["parity"]["verdict"] != "match":
        reasons.append(f"its parity losses differ from closed's: {gate['parity']['reason']}")
    if "convergence" in gate and not gate["convergence"]["ok"]:
        reasons.append(gate["convergence"]["reason"])
    valid = not reasons
    outcome.metrics[OPEN].update(valid=valid, reason="; ".join(reasons))
    if not valid:
        outcome.status = "invalid"
        outcome.reason = "open division fails the accuracy gate: " + "; ".join(reasons)


def run_open_benchmark(job: DeviceJob, backend: DeviceBackend, module: Any, data: TweetData, run_dir: Path,
                       progress: ProgressEmitter) -> Outcome:
    """The open division's benchmark on one device (steps 1-7 above)."""
    ctx = OpenContext(job, backend, data, copy.deepcopy(module.model), progress, work_dir=run_dir / "work")
    selection = select(ctx)
    inference = _inference(ctx, selection.closed, selection.result) if selection.applied else {}
    with backend.process_settings(selection.result.options):
        outcome = run_benchmark(job, backend, selection.result.module, data, run_dir, progress)
    losses = (outcome.metrics.get("parity") or {}).get("losses") or ctx.parity(selection.result.options)
    gate = {"parity": division.parity_gate(selection.closed_parity, losses, job.workload.precision)}
    outcome.metrics[OPEN] = {**selection.record(), **inference, "gate": gate}
    _judge(outcome, gate)
    return outcome


def run_open_convergence(job: DeviceJob, backend: DeviceBackend, module: Any, data: TweetData, run_dir: Path,
                         progress: ProgressEmitter) -> Outcome:
    """Closed and then open trained to the target on one device, with the open division's knobs."""
    ctx = OpenContext(job, backend, data, copy.deepcopy(module.model), progress, work_dir=run_dir / "work")
    selection = select(ctx)
    closed = run_convergence(job, backend, module, data, run_dir, progress, version="closed")
    ctx.log_metrics = True
    with backend.process_settings(selection.result.options):
        outcome = run_convergence(job, backend, ctx.module(selection.result.options), data, run_dir, progress,
                                  version="open")
    closed_conv, open_conv = closed.metrics["convergence"], outcome.metrics["convergence"]
    gate = {"parity": division.parity_gate(selection.closed_parity, ctx.parity(selection.result.options),
                                           job.workload.precision),
            "convergence": division.convergence_gate(closed_conv["epochs_to_accuracy"],
                                                     open_conv["epochs_to_accuracy"])}
    outcome.metrics[OPEN] = {**selection.record(), "gate": gate, "closed_convergence": {
        key: closed_conv.get(key) for key in ("target_reached", "epochs_to_accuracy", "time_to_accuracy_s",
                                              "epochs_run", "best_val_acc", "test_acc", "samples_per_s")}}
    if closed.status != "ok":
        outcome.reason = f"closed's convergence run is {closed.status}: {closed.reason}"
    _judge(outcome, gate)
    return outcome
