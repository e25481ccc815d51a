"""An open-division knob that must be set before the device library loads, measured in processes of its own.

Such a knob is an environment variable (``DeviceBackend.process_env``): torch_xla reads
``XLA_DISABLE_FUNCTIONALIZATION`` once, when it loads, so one process cannot run a step both ways. For
such a knob the open division starts two long-lived workers of this module, one per setting (closed's
and the knob's), each with its environment set before torch_xla is imported. Each loads torch_xla once, builds the same module from closed's initial weights (handed over
as a file) and compiles its graphs in a priming block. The parent then drives the rounds over a pipe,
one training block at a time and in ABBA order (reference, knob; knob, reference; ...), so only one
worker computes at any moment and a drift of the machine hits both alike, as in the in-process
ablation; the compiles stay out of the measured rounds (a round that compiles or loads a graph anyway is
reported). The protocol: one JSON request a line on the worker's stdin, one JSON reply a line on a
private copy of its stdout (its own stdout and stderr go to its log).

    python -m tweetbench.scenarios.knob_process SPEC.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from tweetbench.analysis import division
from tweetbench.config import DeviceJob, Knob
from tweetbench.errors import one_line
from tweetbench.harness.progress import ProgressEmitter
from tweetbench.records.files import write_atomic

INTERLEAVING = ("two long-lived worker processes, one per setting, each loading torch_xla once with its "
                "environment and compiling in a priming block; the parent then runs one training block at a time "
                "over a pipe, in ABBA order (reference, knob; knob, reference; ...), so only one computes at a time")


@dataclass(frozen=True)
class KnobSpec:
    """What a knob worker needs: the job, closed's initial weights (a ``torch.save`` file), its name and the
    environment it starts with on top of the parent's ({} for closed's reference)."""

    job: DeviceJob
    weights: Path
    name: str
    env: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job.to_dict(), "weights": str(self.weights), "name": self.name, "env": dict(self.env)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KnobSpec:
        return cls(DeviceJob.from_dict(data["job"]), Path(data["weights"]), data["name"], data["env"])


class KnobWorker:
    """One running knob worker, asked one request at a time."""

    def __init__(self, spec: KnobSpec, work_dir: Path) -> None:
        self.name = spec.name
        stem = "knob-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in spec.name)
        spec_path = work_dir / f"{stem}.spec.json"
        write_atomic(spec_path, json.dumps(spec.to_dict()))
        self.log_path = work_dir / f"{stem}.log"
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        # Not a session of its own: when the device's worker is killed (timeout), these die with its group.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tweetbench.scenarios.knob_process", str(spec_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
            env={**os.environ, **spec.env})

    def ask(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Send one request and wait for its reply; a worker that failed or died raises with its reason."""
        assert self.process.stdin is not None and self.process.stdout is not None
        if request:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker exited (code {self.process.wait()}): {self._log_tail()}")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("error"):
            raise RuntimeError(f"the {self.name} worker failed: {reply['error']}")
        return reply

    def _log_tail(self) -> str:
        self._log.flush()
        lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1] if lines else "no output"

    def close(self) -> None:
        """Ask the worker to quit; kill it if it does not within 30 s."""
        try:
            if self.process.poll() is None and self.process.stdin is not None:
                self.process.stdin.close()  # end of requests: the worker returns
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


def measure_in_processes(job: DeviceJob, knob: Knob, env: Mapping[str, str], initial: nn.Module,
                         closed_losses: Sequence[float | None], work_dir: Path,
                         progress: ProgressEmitter) -> dict[str, Any]:
    """The knob's row figures: its parity gate against closed's losses, then its speedup over closed's step in
    ``overhead_rounds`` ABBA rounds, each side in its own worker (``env``: the knob's environment)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    weights = work_dir / "knob-initial-weights.pt"
    torch.save(initial.state_dict(), weights)
    rounds = job.preset.overhead_rounds
    progress.start_phase(f"open: {knob.name} in processes of its own", 2 * rounds + 2)
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress.step(done[0])

    workers = [KnobWorker(KnobSpec(job, weights, "closed", {}), work_dir),
               KnobWorker(KnobSpec(job, weights, knob.name, dict(env)), work_dir)]
    row: dict[str, Any] = {"isolation": INTERLEAVING}
    try:
        for worker in workers:
            worker.ask({})  # its "ready": torch_xla loaded with its environment, the module built
        gate = division.parity_gate(closed_losses, workers[1].ask({"op": "parity"})["losses"],
                                    job.workload.precision)
        row["parity_max_abs_diff"] = gate["max_abs_diff"]
        if gate["verdict"] != "match":
            return {**row, "why": f"fails the accuracy gate: {gate['reason']}"}
        for worker in workers:
            worker.ask({"op": "prime"})  # its compiles, outside the rounds
            tick()
        blocks, problems = _rounds(workers, rounds, tick)
    except (RuntimeError, OSError, ValueError) as exc:
        return {**row, "why": f"failed: {one_line(exc, limit=300)}"}
    finally:
        for worker in workers:
            worker.close()
    row.update(division.speedup(blocks[1], blocks[0]))
    row["decision"], row["why"] = division.decide(row)
    if problems:
        row["decision"], row["why"] = "dropped", f"invalid rounds: {'; '.join(problems)}"
    return row


def _rounds(workers: Sequence[KnobWorker], rounds: int,
            tick: Callable[[], None]) -> tuple[list[list[list[float]]], list[str]]:
    """``rounds`` ABBA rounds of one training block per worker: each worker's blocks, and the rounds that compiled."""
    blocks: list[list[list[float]]] = [[] for _ in workers]
    problems: list[str] = []
    for i in range(rounds):
        order = range(len(workers)) if i % 2 == 0 else reversed(range(len(workers)))
        for w in order:
            reply = workers[w].ask({"op": "train", "round": i})
            blocks[w].append(reply["samples"])
            if reply.get("problem"):
                problems.append(f"{workers[w].name}, round {i + 1}: {reply['problem']}")
            tick()
    return blocks, problems


class _Session:
    """The worker's side: its backend, data and training module, built once."""

    def __init__(self, spec: KnobSpec) -> None:
        import torch

        from tweetbench import devices
        from tweetbench.harness.ablation import Arm, Block
        from tweetbench.harness.knobs import CLOSED, open_module
        from tweetbench.workload.dataset import load_data
        from tweetbench.workload.model import build_model

        job = spec.job
        wl = job.workload
        if job.threads is not None:
            torch.set_num_threads(job.threads)
        self.job = job
        self.backend = devices.create_backend(devices.parse_device(job.device))
        self.backend.setup()
        self.math = self.backend.configure_precision(wl.precision)
        self.data = load_data(wl, job.data)
        self.initial = build_model(wl, self.data.num_classes)
        self.initial.load_state_dict(torch.load(spec.weights, map_location="cpu", weights_only=True))
        module = open_module(self.initial, wl.lr, self.backend.optimizer_options(wl.precision), CLOSED)
        self.arm = Arm(spec.name, CLOSED, module)
        self.block = Block(wl.batch_size, wl.seed, wl.precision, job.preset.min_warmup_steps,
                           job.preset.overhead_steps)

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        from tweetbench.harness.ablation import train_block
        from tweetbench.harness.parity import run_parity

        op = request.get("op")
        wl = self.job.workload
        if op == "parity":
            run = run_parity(self.initial, self.backend, self.data.train, batch_size=wl.batch_size, seed=wl.seed,
                             lr=wl.lr, steps=self.job.preset.parity_steps, precision=wl.precision)
            return {"losses": run["losses"]}
        if op == "prime":
            train_block(self.arm, self.backend, self.data.train, self.block, 0)
            return {}
        if op == "train":
            self.backend.begin_measurement()
            clock = train_block(self.arm, self.backend, self.data.train, self.block, int(request["round"]) + 1)
            window = self.backend.end_measurement()
            return {"samples": [clock.measured_seconds / len(clock.measured)],
                    "problem": self.backend.check_measurement(window)}
        raise ValueError(f"unknown request {op!r}")


def _reply(out: IO[str], payload: Mapping[str, Any]) -> None:
    out.write(json.dumps(payload) + "\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Replies go to a private copy of stdout; whatever Lightning or torch_xla print goes to the log.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        session = _Session(KnobSpec.from_dict(json.loads(Path(args[0]).read_text(encoding="utf-8"))))
    except Exception as exc:
        _reply(out, {"error": one_line(exc, limit=300)})
        return 1
    _reply(out, {"ready": True, "facts": session.backend.facts(), **session.math})
    for line in sys.stdin:
        try:
            reply = session.handle(json.loads(line))
        except Exception as exc:
            reply = {"error": one_line(exc, limit=300)}
        _reply(out, reply)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
