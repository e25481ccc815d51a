"""The package's import graph: no module imports another in a circle, and arrows point down the layers.

Every import counts, those inside functions too: a lazy import that only dodges a cycle is a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tweetbench"

# Lower numbers are lower layers; a module may import only its own layer or lower ones.
# (The top-level modules are named in full; a folder's modules share the folder's layer.)
LAYERS = {
    "tweetbench": 0,
    "tweetbench.errors": 0,
    "tweetbench.faults": 0,
    "tweetbench.config": 1,
    "tweetbench.records": 2,
    "tweetbench.analysis": 3,
    "tweetbench.workload": 3,
    "tweetbench.devices": 4,
    "tweetbench.harness": 5,
    "tweetbench.report": 5,
    "tweetbench.scenarios": 6,
    "tweetbench.launch": 7,
    "tweetbench.cli": 8,
    "tweetbench.__main__": 9,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _target(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports (anywhere in its body)."""
    paths = {module_name(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                target = _target(name, node, path.name == "__init__.py")
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    deps.add(full if full in paths else target)
        graph[name] = {dep for dep in deps if dep in paths and dep != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> int:
    """The layer of ``module``: its own entry, else its folder's."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in LAYERS:
            return LAYERS[key]
    raise KeyError(module)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_module_imports_another_in_a_circle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(component) for component in found)


def test_every_module_has_a_layer() -> None:
    missing = [name for name in import_graph() if not any(
        name == key or name.startswith(key + ".") for key in LAYERS if key != "tweetbench")
        and name != "tweetbench"]
    assert not missing, f"modules outside every layer (add them to LAYERS): {missing}"


def test_imports_point_down_the_layers() -> None:
    upward = sorted(f"{name} ({layer(name)}) imports {dep} ({layer(dep)})"
                    for name, deps in import_graph().items() for dep in deps if layer(dep) > layer(name))
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


@pytest.mark.parametrize("folder", ["workload", "devices", "harness", "scenarios", "launch", "records", "analysis",
                                    "report"])
def test_each_layer_is_a_folder(folder: str) -> None:
    assert (PACKAGE / folder / "__init__.py").is_file()


def _layout_section(readme: str) -> str:
    start = readme.index("\n## Layout\n")
    end = readme.find("\n## ", start + 1)
    return readme[start: end if end != -1 else len(readme)]


def unnamed_modules(readme: str, package: Path = PACKAGE) -> list[str]:
    """The package's modules that the README's Layout does not name (as `path/relative/to/tweetbench.py`)."""
    layout = _layout_section(readme)
    return sorted(rel for rel in (p.relative_to(package).as_posix() for p in package.rglob("*.py"))
                  if f"`{rel}`" not in layout)


def test_the_readme_layout_names_every_module() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    assert unnamed_modules(readme) == []
    # It can fail: a Layout without one module's line names that module.
    line = next(line for line in _layout_section(readme).splitlines() if line.startswith("- `harness/batcher.py`"))
    assert unnamed_modules(readme.replace(line + "\n", "")) == ["harness/batcher.py"]
