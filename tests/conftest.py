"""Fixtures the whole suite shares: stored result records and run directories, the CLI's one-line error check,
and synthetic Kineto traces.

Each fixture hands out a function (pytest's "factory as fixture"), so that a test builds the variants it needs:
``make_record("gpu", status="unavailable")``. No test module imports another; what two test modules share lives
here (or in a sub-folder's ``conftest.py`` when only that folder needs it).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
_CPU = json.loads((DATA / "cpu_result.json").read_text())
_GPU_UNAVAILABLE = json.loads((DATA / "gpu_unavailable.json").read_text())
_META = json.loads((DATA / "run_meta.json").read_text())
ERROR_PREFIX = "tweetbench: error: "
DEFAULT_RUN_ID = "20260101-000000-abcdef"


# ------------------------------------------------------------------------------------ records and runs
def _record(device: str = "cpu", *, host: str = "vm", run_id: str = "20260101-000000-aaaaaa", started: float = 1e9,
            status: str = "ok", samples: float | None = None, fingerprint: str | None = None,
            scenario: str = "benchmark") -> dict[str, Any]:
    """A result of ``device`` (cpu, or gpu: ok or unavailable) on ``host``, started at ``started``."""
    if device == "gpu" and status == "unavailable":
        r = copy.deepcopy(_GPU_UNAVAILABLE)
    else:
        r = copy.deepcopy(_CPU)
        if device == "gpu":
            r["device"] = {"name": "gpu", "kind": "gpu", "label": "GPU (test)", "hardware": "test", "facts": {}}
        if status != "ok":
            r["status"], r["reason"] = status, f"it {status}"
    r["environment"]["hostname"] = host
    r["run_id"] = run_id
    r["timing"] = dict(r.get("timing") or {}, started_at=started)
    r["scenario"] = scenario
    if samples is not None:
        r["metrics"]["training"]["samples_per_s"] = samples
    if fingerprint is not None:
        r["workload"]["fingerprint"] = fingerprint
    return r


def _write_run(out: Path, records: list[dict[str, Any]], *, run_id: str | None = None, status: str = "complete",
               dir_name: str | None = None) -> Path:
    """A run directory under ``out`` holding ``records`` (their run id is set to the run's)."""
    run_id = run_id or records[0]["run_id"]
    run_dir = out / (dir_name or run_id)
    run_dir.mkdir(parents=True)
    meta = dict(_META, run_id=run_id, status=status, devices=[r["device"]["name"] for r in records],
                started_at=min(r["timing"]["started_at"] for r in records))
    (run_dir / "run.json").write_text(json.dumps(meta))
    for r in records:
        (run_dir / f"{r['device']['name']}.json").write_text(json.dumps(dict(r, run_id=run_id)))
    return run_dir


def _make_run_dir(out: Path, run_id: str = DEFAULT_RUN_ID) -> Path:
    """The stored run as it was recorded (its ``run.json``, a cpu ok and a gpu unavailable result), as ``run_id``."""
    run_dir = out / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(dict(_META, run_id=run_id)))
    for name, result in (("cpu", _CPU), ("gpu", _GPU_UNAVAILABLE)):
        (run_dir / f"{name}.json").write_text(json.dumps(dict(result, run_id=run_id)))
    return run_dir


@pytest.fixture(scope="session")
def make_record() -> Callable[..., dict[str, Any]]:
    """``make_record(device="cpu", *, host, run_id, started, status, samples, fingerprint, scenario)``: a result
    record built from the stored ones (a fresh copy each call)."""
    return _record


@pytest.fixture(scope="session")
def write_run() -> Callable[..., Path]:
    """``write_run(out, records, *, run_id, status, dir_name)``: a run directory holding ``records``."""
    return _write_run


@pytest.fixture(scope="session")
def make_run_dir() -> Callable[..., Path]:
    """``make_run_dir(out, run_id=DEFAULT_RUN_ID)``: the stored run directory, written under ``out``."""
    return _make_run_dir


@pytest.fixture
def run_meta() -> dict[str, Any]:
    """The stored run's ``run.json`` (a copy the test may change)."""
    return copy.deepcopy(_META)


# --------------------------------------------------------------------------------- one-line errors
def _assert_one_line_error(stderr: str, code: int, expected_code: int, fragment: str) -> None:
    """What the CLI printed is one ``tweetbench: error:`` line holding ``fragment``, and it exited with
    ``expected_code``; no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(ERROR_PREFIX), stderr
    assert fragment in lines[0], lines[0]
    assert code == expected_code, (code, stderr)


@pytest.fixture(scope="session")
def assert_one_line_error() -> Callable[[str, int, int, str], None]:
    """``assert_one_line_error(stderr, code, expected_code, fragment)``: the CLI's refusal, checked."""
    return _assert_one_line_error


# ---------------------------------------------------------------------------------- Kineto traces
# Synthetic traces with known intervals (µs), shaped like torch.profiler's Chrome trace export.
_MAIN = (1, 1)
_STREAM = (0, 7)
_WINDOW = 100.0


def _x(name: str, cat: str, ts: float, dur: float, thread: tuple[int, int] = _MAIN, **args: Any) -> dict[str, Any]:
    return {"ph": "X", "cat": cat, "name": name, "pid": thread[0], "tid": thread[1], "ts": ts, "dur": dur,
            "args": args}


def _step(w: int) -> list[dict[str, Any]]:
    """One step of 100 µs starting at ``w * 100``: the backward of step w-1's forward, the optimizer, then
    step w's forward (Lightning's step boundary is at the end of training_step)."""
    b = w * _WINDOW
    seq = {"embedding": 10 * w + 1, "lstm": 10 * w + 2, "loss": 10 * w + 3}
    prev = {k: v - 10 for k, v in seq.items()}
    return [
        _x(f"ProfilerStep#{w}", "user_annotation", b, _WINDOW),
        _x("[pl][profile][_TrainingEpochLoop].train_dataloader_next", "user_annotation", b, 5),
        _x("[pl][profile][Strategy]SingleDeviceStrategy.batch_to_device", "user_annotation", b + 5, 5),
        _x("aten::to", "cpu_op", b + 6, 3),
        _x("Optimizer.step#Adam.step", "user_annotation", b + 10, 80),
        _x("[pl][profile][Strategy]SingleDeviceStrategy.backward", "user_annotation", b + 10, 30),
        _x("autograd::engine::evaluate_function: EmbeddingBackward0", "cpu_op", b + 12, 10,
           **{"Sequence number": prev["embedding"]}),
        _x("aten::embedding_dense_backward", "cpu_op", b + 13, 8),
        _x("autograd::engine::evaluate_function: MkldnnRnnLayerBackward0", "cpu_op", b + 22, 16,
           **{"Sequence number": prev["lstm"]}),
        _x("aten::addcdiv_", "cpu_op", b + 40, 20),
        _x("aten::lerp_", "cpu_op", b + 60, 5),
        # Lightning's closure scales the loss under grad mode: a sequence number, inside the optimizer's step.
        _x("aten::div", "cpu_op", b + 65, 2, **{"Sequence number": 10 * w + 9}),
        _x("[pl][profile][Strategy]SingleDeviceStrategy.training_step", "user_annotation", b + 70, 20),
        _x("[pl][module]torch.nn.modules.sparse.Embedding: model.embedding", "user_annotation", b + 71, 4),
        _x("aten::embedding", "cpu_op", b + 71.5, 3, **{"Sequence number": seq["embedding"]}),
        _x("[pl][module]torch.nn.modules.rnn.LSTM: model.lstm", "user_annotation", b + 75, 10),
        _x("aten::lstm", "cpu_op", b + 75, 10, **{"Sequence number": seq["lstm"]}),
        _x("aten::cross_entropy_loss", "cpu_op", b + 85, 4, **{"Sequence number": seq["loss"]}),
        # b + 90 .. b + 100: the loop between annotations ("other").
    ]


def _training_trace(steps: int = 3) -> dict[str, Any]:
    """A lead-in step and ``steps - 1`` analysed ones; per analysed step (µs): data 5, copies 5, embedding 4,
    LSTM 10, loss 8, embedding backward 10, LSTM backward 16, backward other 4, optimizer 28 (25 of it the
    element-wise update), other 10."""
    events = [e for w in range(steps) for e in _step(w)]
    events.append({"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "python"}})
    return {"schemaVersion": 1, "traceEvents": events}


def _gpu_trace(steps: int = 3, *, busy: bool = False) -> dict[str, Any]:
    """Device activity per 100 µs step ``b``: kernel [b+10, b+30) queued at b, copy [b+30, b+40) queued at
    b+25, kernel [b+60, b+70) queued at b+50. Idle 60 µs: [b, b+10) queued (other), [b+40, b+60) half
    before its launch (host wait 10, other 10), [b+70, b+100) with nothing queued (host wait 30).

    With ``busy`` a third kernel [b+70, b+95), queued at b+40, makes the device busy 65% of each step.
    """
    events = []
    for w in range(steps):
        b = w * _WINDOW
        events.append(_x(f"ProfilerStep#{w}", "user_annotation", b, _WINDOW))
        events.append(_x("[pl][module]torch.nn.modules.rnn.LSTM: model.lstm", "user_annotation", b, 60))
        work = [("kernel", "lstm_kernel", b, b + 10, 20), ("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)",
                                                          b + 25, b + 30, 10),
                ("kernel", "lstm_kernel", b + 50, b + 60, 10)]
        if busy:
            work.append(("kernel", "adam_kernel", b + 40, b + 70, 25))
        for n, (cat, name, queued, start, dur) in enumerate(work):
            correlation = 100 * w + n
            events.append(_x("cudaLaunchKernel", "cuda_runtime", queued, 1, correlation=correlation))
            events.append(_x(name, cat, start, dur, _STREAM, correlation=correlation, stream=7, device=0))
    return {"traceEvents": events}


@pytest.fixture(scope="session")
def training_trace() -> Callable[..., dict[str, Any]]:
    """``training_trace(steps=3)``: a CPU training trace (see ``_training_trace`` for its known intervals)."""
    return _training_trace


@pytest.fixture(scope="session")
def gpu_trace() -> Callable[..., dict[str, Any]]:
    """``gpu_trace(steps=3, *, busy=False)``: device activity with known idle gaps (see ``_gpu_trace``)."""
    return _gpu_trace
