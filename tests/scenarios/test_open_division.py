"""The open division on the CPU with --workload tiny: the record names its knobs, and the accuracy gate holds.

The knob catalog is cut to Adam's foreach (plus the test-only broken knob) where a test is about the
gate, so that it does not spend its time compiling; the CLI test in tests/test_e2e_cpu.py runs them all.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tweetbench.cli import main
from tweetbench.config import DataSource, DeviceJob, get_preset
from tweetbench.devices import DeviceSpec, knobs
from tweetbench.devices.cpu import CPUBackend
from tweetbench.faults import FAULT_ENV
from tweetbench.launch.runner import run_device
from tweetbench.records import read_result
from tweetbench.workload import variants
from tweetbench.workload.dataset import load_data
from tweetbench.workload.fingerprint import workload_fingerprint
from tweetbench.workload.model import build_model

SMOKE = get_preset("smoke")
OPEN_TINY = variants.resolve("tiny", division="open")


@pytest.fixture
def foreach_only(monkeypatch):
    monkeypatch.setattr(CPUBackend, "open_knobs", lambda self, precision: [knobs.adam("foreach")])


def run_open(tmp_path, workload=OPEN_TINY):
    job = DeviceJob("cpu", workload, SMOKE, profile=False)
    return run_device(job, run_id="20260101-000000-abcdef", run_dir=tmp_path, command=["pytest"]).to_dict()


def test_the_open_variant_has_its_own_name_and_fingerprint_suffix():
    assert OPEN_TINY.name == "tweets-bilstm-tiny+open" and OPEN_TINY.division == "open"
    assert variants.resolve("tiny", "bf16-mixed", "open").name == "tweets-bilstm-tiny@bf16-mixed+open"
    closed = variants.resolve("tiny")
    data = load_data(closed, DataSource())
    model = build_model(closed, data.num_classes)
    closed_print = workload_fingerprint(closed, data, model)
    assert workload_fingerprint(OPEN_TINY, data, model) == closed_print + "+open"
    assert "+" not in closed_print


def test_the_record_names_its_knobs_and_the_gate_drops_a_broken_one(tmp_path, monkeypatch, foreach_only):
    monkeypatch.setenv(FAULT_ENV, "cpu:broken-knob")
    record = run_open(tmp_path)
    assert record["workload"]["name"] == "tweets-bilstm-tiny+open"
    assert record["workload"]["fingerprint"].endswith("+open")
    assert record["workload"]["config"]["division"] == "open"
    block = record["metrics"]["open"]
    rows = {row["name"]: row for row in block["knobs"]}
    assert list(rows) == ["adam=foreach", "adam=broken"]
    broken = rows["adam=broken"]
    assert broken["decision"] == "dropped" and broken["rounds"] == 0
    assert broken["why"].startswith("fails the accuracy gate: loss differs from closed's")
    assert broken["parity_max_abs_diff"] > 1e-3
    foreach = rows["adam=foreach"]
    assert foreach["setting"] == "torch.optim.Adam(foreach=True)" and foreach["parity_max_abs_diff"] <= 1e-3
    assert foreach["decision"] in ("kept", "dropped") and foreach["why"]
    assert foreach["speedup"] > 0 and foreach["rounds"] == SMOKE.overhead_rounds
    assert block["applied"] in ([], ["adam=foreach"])
    assert block["options"]["adam"] == ("foreach" if block["applied"] else None)
    assert block["gate"]["parity"]["verdict"] == "match"
    assert record["status"] == "ok" and block["valid"] is True
    # The open result's own figures are the benchmark's, measured with its options.
    assert record["metrics"]["training"]["samples_per_s"] > 0
    if block["applied"]:
        assert block["training"]["open_samples_per_s"] > 0 and block["inference_batch1"]["open_p50_ms"] > 0


def test_an_open_result_that_fails_the_gate_is_invalid(tmp_path, monkeypatch, foreach_only):
    monkeypatch.setenv(FAULT_ENV, "cpu:broken-open")
    record = run_open(tmp_path)
    assert record["status"] == "invalid"
    assert record["reason"].startswith("open division fails the accuracy gate: its parity losses differ from closed's")
    block = record["metrics"]["open"]
    assert block["applied"] == ["adam=broken"] and block["valid"] is False
    assert block["gate"]["parity"]["verdict"] == "diverged"


@pytest.mark.slow
def test_cli_open_run_tries_every_cpu_knob_and_reports_the_division(tmp_path):
    """The whole open division as a user runs it: every CPU knob (inductor's compile included) on tiny."""
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "tweetbench", "run", "--devices", "cpu", "--workload", "tiny",
                           "--preset", "smoke", "--division", "open", "--no-profile", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    record = read_result(run_dir / "cpu.json").to_dict()
    rows = {row["name"]: row for row in record["metrics"]["open"]["knobs"]}
    supported = [knob.name for knob in CPUBackend(DeviceSpec("cpu")).open_knobs("32-true") if not knob.problem]
    assert set(supported) <= set(rows)
    for name in supported:  # each ran its parity pass and its blocks, or says why it could not
        assert rows[name]["parity_max_abs_diff"] is not None or rows[name]["why"].startswith("failed"), rows[name]
        assert rows[name]["rounds"] == SMOKE.overhead_rounds or rows[name]["why"].startswith("failed"), rows[name]
    if "compile=inductor" in supported:
        assert rows["compile=inductor"]["compile_s"] is not None
    assert rows["cuda-graphs=reduce-overhead"]["why"] == "unsupported here: CUDA graphs need a CUDA GPU"
    for page in (run_dir / "report.md", out / "summary.md"):
        text = page.read_text()
        assert "## Open division" in text and "| `adam=fused` |" in text
    assert "tweets-bilstm-tiny+open" in (out / "variants.md").read_text()


def test_cli_refuses_an_unknown_division_and_open_data_parallel_in_one_line(capsys, tmp_path):
    assert main(["run", "--division", "opne", "--workload", "tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tweetbench: error: unknown division 'opne'") and err.count("\n") == 1
    assert main(["run", "--devices", "cpu:2", "--strategy", "ddp", "--division", "open", "--out", str(tmp_path)]) == 2
    assert "closed division" in capsys.readouterr().err


# -- a knob set before the device library loads: measured in processes of its own -----------------------

class _FakeWorker:
    """A knob worker without a process: closed's blocks take 1.0 s a step, the knob's ``knob_s``."""

    log: list[tuple[str, str]] = []
    knob_s = 0.5
    knob_losses = [1.0, 0.9, 0.8]
    problem = ""

    def __init__(self, spec, work_dir):
        self.name = spec.name
        self.closed = False

    def ask(self, request):
        _FakeWorker.log.append((self.name, request.get("op", "ready")))
        if request.get("op") == "parity":
            return {"losses": list(_FakeWorker.knob_losses)}
        if request.get("op") == "train":
            seconds = 1.0 if self.name == "closed" else _FakeWorker.knob_s
            problem = _FakeWorker.problem if self.name != "closed" and request["round"] == 1 else ""
            return {"samples": [seconds + 0.01 * request["round"]], "problem": problem}
        return {}

    def close(self):
        _FakeWorker.log.append((self.name, "close"))


@pytest.fixture
def fake_workers(monkeypatch):
    from tweetbench.scenarios import knob_process

    monkeypatch.setattr(knob_process, "KnobWorker", _FakeWorker)
    monkeypatch.setattr(_FakeWorker, "log", [])
    return knob_process


def _measure(knob_process, tmp_path, closed_losses=(1.0, 0.9, 0.8)):
    from tweetbench.harness.progress import ProgressEmitter

    wl = variants.resolve("tiny", division="open")
    job = DeviceJob("xla-cpu", wl, SMOKE, profile=False)
    model = build_model(wl, 4)
    knob = knobs.functionalization("off")
    quiet = ProgressEmitter(open("/dev/null", "w"))  # noqa: SIM115
    return knob_process.measure_in_processes(job, knob, {"XLA_DISABLE_FUNCTIONALIZATION": "1"}, model,
                                             list(closed_losses), tmp_path, quiet)


def test_a_process_knob_is_gated_then_measured_in_abba_rounds_against_closed(fake_workers, tmp_path):
    row = _measure(fake_workers, tmp_path)
    trains = [name for name, op in _FakeWorker.log if op == "train"]
    knob = "functionalization=off"
    assert trains == ["closed", knob, knob, "closed", "closed", knob, knob, "closed"]  # smoke: 4 rounds, ABBA
    assert _FakeWorker.log[:3] == [("closed", "ready"), (knob, "ready"), (knob, "parity")]
    assert [op for _, op in _FakeWorker.log[-2:]] == ["close", "close"]
    assert row["decision"] == "kept" and row["rounds"] == 4 and row["parity_max_abs_diff"] == 0.0
    assert row["speedup"] > 1.5 and row["ci95"][0] > 1.0
    assert "ABBA" in row["isolation"] and (tmp_path / "knob-initial-weights.pt").exists()


def test_a_process_knob_that_moves_the_losses_is_dropped_before_it_is_timed(fake_workers, tmp_path):
    row = _measure(fake_workers, tmp_path, closed_losses=(2.0, 1.5, 1.0))
    assert row["why"].startswith("fails the accuracy gate: ") and "decision" not in row
    assert not [op for _, op in _FakeWorker.log if op == "train"]
    assert [op for _, op in _FakeWorker.log[-2:]] == ["close", "close"]


def test_a_process_knob_whose_round_compiled_is_dropped_with_the_reason(fake_workers, tmp_path, monkeypatch):
    monkeypatch.setattr(_FakeWorker, "problem", "1 XLA compilation during the measured steps (2.0 s)")
    row = _measure(fake_workers, tmp_path)
    assert row["decision"] == "dropped"
    assert row["why"] == ("invalid rounds: functionalization=off, round 2: 1 XLA compilation during the measured "
                          "steps (2.0 s)")


def test_a_knob_worker_speaks_its_protocol_over_a_pipe(tmp_path):
    """The real worker process, on the CPU (no torch_xla): ready, parity, prime, a round, then it quits."""
    import torch

    from tweetbench.scenarios.knob_process import KnobSpec, KnobWorker

    wl = variants.resolve("tiny", division="open")
    data = load_data(wl, DataSource())
    torch.save(build_model(wl, data.num_classes).state_dict(), tmp_path / "w.pt")
    worker = KnobWorker(KnobSpec(DeviceJob("cpu", wl, SMOKE, profile=False), tmp_path / "w.pt", "probe",
                                 {"TWEETBENCH_PROBE": "1"}), tmp_path)
    try:
        assert worker.ask({})["ready"] is True
        assert len(worker.ask({"op": "parity"})["losses"]) == SMOKE.parity_steps
        worker.ask({"op": "prime"})
        reply = worker.ask({"op": "train", "round": 0})
        assert len(reply["samples"]) == 1 and reply["samples"][0] > 0 and reply["problem"] == ""
        with pytest.raises(RuntimeError, match="the probe worker failed: ValueError: unknown request 'nope'"):
            worker.ask({"op": "nope"})
    finally:
        worker.close()
    assert worker.process.returncode == 0


def test_the_choice_names_a_kept_knob_that_ran_in_processes_of_its_own():
    from tweetbench.scenarios.division import isolated_note

    rows = {"compile=openxla": {"decision": "dropped"},
            "functionalization=off": {"decision": "kept", "isolation": "two worker processes"}}
    assert isolated_note(rows) == ("; functionalization=off was resolved faster in processes of its own and cannot "
                                   "join this process's step (see its row)")
    rows["functionalization=off"]["decision"] = "dropped"
    assert isolated_note(rows) == ""
