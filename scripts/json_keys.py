"""Compare the JSON key paths of two tweetbench runs: ``python scripts/json_keys.py RUN_A RUN_B``.

Every file of each run directory (run.json, the device results, trials/*) is flattened to its key
paths (list items as ``[]``); the script prints the paths only one side has and exits 1 if any.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def key_paths(node: Any, prefix: str = "") -> set[str]:
    """Every key path in ``node``; list items share one path (``a.b[]``)."""
    paths: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path} | key_paths(value, path)
    elif isinstance(node, list):
        for item in node:
            paths |= key_paths(item, f"{prefix}[]")
    return paths


def run_keys(run_dir: Path) -> dict[str, set[str]]:
    """File (relative to the run) -> its key paths."""
    return {path.relative_to(run_dir).as_posix(): key_paths(json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(run_dir.rglob("*.json")) if "work" not in path.relative_to(run_dir).parts}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    a, b = (run_keys(Path(arg)) for arg in argv)
    differ = 0
    for name in sorted(set(a) | set(b)):
        only_a, only_b = a.get(name, set()) - b.get(name, set()), b.get(name, set()) - a.get(name, set())
        if name not in a or name not in b:
            print(f"{name}: only in {'A' if name in a else 'B'}")
            differ += 1
            continue
        for path in sorted(only_a):
            print(f"{name}: only in A: {path}")
        for path in sorted(only_b):
            print(f"{name}: only in B: {path}")
        differ += len(only_a) + len(only_b)
    total = sum(len(keys) for keys in a.values())
    print(f"{len(a)} files, {total} key paths in A; {differ} differences")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
