"""The serve scenario through a real LitServe server (``--server litserve``): the same LoadGen runs as in-process,
each query an HTTP request to 127.0.0.1 on a port the OS chose, with LitServe's own dynamic batching.

The trained weights are saved in the run's work folder and loaded by the server process; the accuracy run's
answers are checked against the model's own predictions in this process, so a server that answers differently
shows. After the runs, malformed requests must get a 4xx (never a 5xx) and a good request after them must still
be answered. The server's processes are stopped however the scenario ends, and any left is a problem.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import urllib.error
import urllib.request
from typing import Any

import torch

from tweetbench.devices import file_stem
from tweetbench.harness.litserve_sut import LITSERVE_ACCELERATORS, HTTPSUT, litserve_problem
from tweetbench.harness.server import ServerProcess, ServerStartError
from tweetbench.harness.sut import LoadGenTest, Predictor
from tweetbench.scenarios.serve_runner import LoadGenRunner, ServeContext, grad_mode
from tweetbench.scenarios.serve_checks import audit_check

APP_MODULE = "tweetbench.harness.litserve_app"
PREDICT_PATH = "/predict"
# Bodies the endpoint must refuse with a 4xx: not JSON, no tokens, a wrong length, an id outside the vocabulary.
PROBE_SAMPLES = 300
MALFORMED = (b"not json", b'{"text": "hello"}', b'{"tokens": [1, 2]}', None)


def _post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _spec(context: ServeContext, model: torch.nn.Module, weights: str, kind: str) -> dict[str, Any]:
    config = context.config
    vocab = next(m for m in model.modules() if isinstance(m, torch.nn.Embedding)).num_embeddings
    return {"workload": context.job.workload.to_dict(), "num_classes": context.data.num_classes, "vocab": vocab,
            "weights": weights, "accelerator": LITSERVE_ACCELERATORS[kind],
            "max_batch_size": config.max_batch_size, "batch_timeout_s": config.batch_timeout_ms / 1000,
            "threads": context.job.threads or server_threads()}


def server_threads() -> int:
    """The server's torch threads, unless --threads says: half the cores, so that its HTTP process and LoadGen's
    client keep a core (torch's pool stalls when its threads share the cores with other runnable processes)."""
    return max(1, (os.cpu_count() or 2) // 2)


def serve_litserve(context: ServeContext, model: torch.nn.Module, offline_hint: float | None = None) -> dict[str, Any]:
    """Every LoadGen scenario through LitServe; ``unavailable`` with the reason where it cannot serve."""
    problem = litserve_problem(context.backend.kind)
    if problem:
        return {"unavailable": problem}
    try:
        import litserve  # noqa: F401
    except ImportError:
        return {"unavailable": "LitServe is not installed: pip install litserve"}
    work = context.run_dir / "work" / f"litserve-{file_stem(context.job.device)}"
    work.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, work / "model.pt")
    env = {} if context.backend.spec.index is None else {"CUDA_VISIBLE_DEVICES": str(context.backend.spec.index)}
    server = ServerProcess(APP_MODULE, _spec(context, model, str(work / "model.pt"), context.backend.kind), work,
                           env=env)
    try:
        with server:
            result = _through(context, model, server, offline_hint)
    except ServerStartError as exc:
        return {"unavailable": f"LitServe did not start: {exc}", "leftover_pids": server.leftover}
    result["server"] = {"url_host": "127.0.0.1", "port": server.port, "pid": server.process and server.process.pid,
                        "leftover_pids": server.leftover, "log": str((work / "server.log").relative_to(
                            context.run_dir)), "torch_threads": server.spec["threads"],
                        "batching": {"max_batch_size": context.config.max_batch_size,
                                                            "batch_timeout_s": context.config.batch_timeout_ms / 1000}}
    if server.leftover:
        result["problems"].append(f"server processes left after stopping it: {server.leftover}")
    started = server.timeline["started"]
    marks = [(name, at) for name, at in (("server_ready", server.timeline.get("ready")),
                                         ("first_response", result.pop("_first_response")),
                                         ("steady_state", result.pop("_steady"))) if at]
    result["cold_start"] = {"start": "the server process's start", "total_s": marks[-1][1] - started if marks else 0,
                            "phases": [{"phase": name, "at_s": at - started,
                                        "took_s": at - (marks[i - 1][1] if i else started)}
                                       for i, (name, at) in enumerate(marks)]}
    return result


def _through(context: ServeContext, model: torch.nn.Module, server: ServerProcess,
             offline_hint: float | None) -> dict[str, Any]:
    url = server.url + PREDICT_PATH
    tokens = context.data.val.tokens
    body = json.dumps({"tokens": tokens[0].tolist()}).encode()
    status, _ = _post(url, body)
    first = time.time()
    round_trips = []
    for _ in range(20):
        began = time.perf_counter()
        _post(url, body)
        round_trips.append(time.perf_counter() - began)
    result: dict[str, Any] = {"problems": [] if status == 200 else [f"the first request got HTTP {status}"],
                              "calibration": {"http_round_trip_p50_s": statistics.median(round_trips)},
                              "_first_response": first}
    suts: list[HTTPSUT] = []

    def make_sut(batcher: Any) -> Any:
        return lambda complete: suts.append(HTTPSUT(url, tokens, complete)) or suts[-1]

    own = Predictor(model, context.backend, tokens, grad_mode(context.backend))
    runner = LoadGenRunner(context, "litserve", own, None, result, make_sut=make_sut)
    result["single_stream"] = runner.single_stream(result["calibration"]["http_round_trip_p50_s"])
    result["_steady"] = time.time()
    result["offline"] = runner.offline(_offline_probe(runner, context, offline_hint))
    result["multi_stream"] = runner.multi_stream(8 * result["calibration"]["http_round_trip_p50_s"])
    result.update(runner.search(0.7 * float(result["offline"]["samples_per_s"] or offline_hint or 100.0)))
    result["accuracy"] = runner.accuracy(context.data.val.labels)
    result["audit"] = audit_check(runner.audited, result["accuracy"].pop("predictions"))
    result["problems"] += [p for p in (result["accuracy"]["problem"], result["audit"]["problem"]) if p]
    errors: dict[str, int] = {}
    for sut in suts:
        for what, count in sut.errors.items():
            errors[what] = errors.get(what, 0) + count
    result["http_errors"] = errors
    if errors:
        named = ", ".join(f"{count} {what}" for what, count in errors.items())
        result["problems"].append(f"{sum(errors.values())} requests failed ({named}): LoadGen got class -1")
    result["malformed"] = malformed_check(url, body)
    result["problems"] += [p for p in (result["malformed"]["problem"],) if p]
    return result


def _offline_probe(runner: LoadGenRunner, context: ServeContext, ceiling: float | None) -> float:
    """LoadGen sizes Offline's one query from the expected samples/s: a short probe run (a few hundred samples)
    measures it through the server, so that the measured run is neither too short nor minutes long."""
    test = LoadGenTest("Offline", min_duration_s=1.0, target_qps=float(PROBE_SAMPLES),
                       seed=context.job.workload.seed)
    probe = runner.run("offline_probe", test, runner.batcher(context.config.max_batch_size, 0.0))
    measured = float(probe["samples_per_s"] or PROBE_SAMPLES)
    return min(measured, ceiling) if ceiling else measured


def malformed_check(url: str, good: bytes) -> dict[str, Any]:
    """Each malformed body must get a 4xx, never a 5xx, and the good request after them a 200."""
    body = json.loads(good)
    out_of_vocab = json.dumps({"tokens": [10**9] * len(body["tokens"])}).encode()
    statuses = [_post(url, bad if bad is not None else out_of_vocab)[0] for bad in MALFORMED]
    after, answer = _post(url, good)
    problem = ""
    if any(not 400 <= status < 500 for status in statuses):
        problem = f"malformed requests got HTTP {statuses} (each must be a 4xx)"
    elif after != 200:
        problem = f"after the malformed requests, a good one got HTTP {after}: the server stopped serving"
    return {"statuses": statuses, "after_status": after, "after_answer": json.loads(answer) if after == 200 else None,
            "problem": problem}
