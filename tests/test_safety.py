"""Safe by default, checked in the source: no unpickling, no network client, JSON and Markdown written atomically.

An audit of ``tweetbench/`` by its syntax tree. A new use of one of these must either change to the
safe form or be added to an allow-list below with the reason it is safe.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tweetbench"

UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
NETWORK_CLIENTS = {"urllib.request", "urllib3", "http.client", "requests", "httpx", "aiohttp", "ftplib", "smtplib",
                   "socket"}
# (file, module): imports allowed, and why.
ALLOWED_IMPORTS: set[tuple[str, str]] = {
    # The serve scenario's own server on 127.0.0.1 (harness/server.py refuses any other address): the port probe,
    # the readiness poll, LoadGen's HTTP SUT and the malformed-request check talk to loopback only.
    ("harness/server.py", "socket"),
    ("harness/server.py", "urllib.request"),
    ("harness/litserve_sut.py", "aiohttp"),
    ("scenarios/serve_http.py", "urllib.request"),
}
# (file, call): loads from files, and why they are safe.
ALLOWED_LOADS = {
    # pstats unmarshals the cProfile dump that the same run's AdvancedProfiler has just written.
    ("harness/profiling.py", "pstats.Stats"),
}
# (file, kind): writes that do not go through records.files.write_atomic, and why.
ALLOWED_WRITES = {
    ("records/files.py", "open-write"),  # write_atomic's own temporary file, and the lock file (opened to append)
    ("workload/corpus.py", "open-write"),  # the corpus cache: mkstemp, then os.replace; checked on every read
    ("launch/process.py", "open-write"),  # a worker's stderr log, streamed while it runs (not JSON or Markdown)
    ("launch/torchrun.py", "open-write"),  # os.devnull for the progress of ranks other than 0
    ("scenarios/dataparallel.py", "open-write"),  # os.devnull for the progress of ranks other than 0
    ("harness/rank_files.py", "write_text"),  # the rank heartbeat, each second: a temporary file renamed over the last
    ("cli/__init__.py", "open-write"),  # an internal error's traceback, to a new mkstemp file outside the results
    # closed's initial weights for the knob workers, in the run's work folder (read back with weights_only=True)
    ("scenarios/knob_process.py", "torch.save"),
    # a knob worker's stderr log, streamed while it runs, and the worker's private copy of stdout (the reply pipe)
    ("scenarios/knob_process.py", "open-write"),
    # the trained weights handed to the LitServe server, in the run's work folder (loaded with weights_only=True)
    ("scenarios/serve_http.py", "torch.save"),
    ("harness/server.py", "open-write"),  # the server's stdout/stderr log, streamed while it runs
}


def modules() -> Iterator[tuple[str, ast.AST]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path))


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


def imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def calls(tree: ast.AST) -> Iterator[ast.Call]:
    yield from (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def test_the_audit_sees_the_package() -> None:
    names = {name for name, _ in modules()}
    assert {"cli/__init__.py", "records/result.py", "records/files.py", "harness/profiling.py"} <= names


def test_nothing_is_unpickled() -> None:
    found = []
    for name, tree in modules():
        found += [(name, module) for module in imports(tree) if module.split(".")[0] in UNPICKLERS]
        for call in calls(tree):
            func = dotted(call.func)
            if func.endswith("torch.load") and keyword(call, "weights_only") is not True:
                found.append((name, "torch.load without weights_only=True"))
            if func.split(".")[-1] == "load" and func.split(".")[0] in ("np", "numpy") \
                    and keyword(call, "allow_pickle") is True:
                found.append((name, "numpy.load(allow_pickle=True)"))
            if func in ("pstats.Stats", "yaml.load", "yaml.unsafe_load", "eval", "exec"):
                found.append((name, func))
    assert set(found) - ALLOWED_LOADS == set()


def test_no_network_client_is_imported() -> None:
    found = {(name, module) for name, tree in modules() for module in imports(tree)
             if module in NETWORK_CLIENTS or module.split(".")[0] in {"requests", "httpx", "aiohttp", "urllib3"}}
    assert found - ALLOWED_IMPORTS == set()


def test_files_are_written_through_write_atomic() -> None:
    found = set()
    for name, tree in modules():
        for call in calls(tree):
            func = dotted(call.func)
            attr = func.split(".")[-1]
            if attr in ("write_text", "write_bytes"):
                found.add((name, attr))
            elif func in ("json.dump", "torch.save", "pickle.dump"):
                found.add((name, func))
            elif attr in ("open", "fdopen"):
                mode = call.args[1] if len(call.args) > 1 else next(
                    (kw.value for kw in call.keywords if kw.arg == "mode"), None)
                if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax+"):
                    found.add((name, "open-write"))
    assert found - ALLOWED_WRITES == set()
