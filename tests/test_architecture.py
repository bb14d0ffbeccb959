"""The package's import structure: the registry stands alone, no module imports one that imports it
back (at any depth, function-level imports included), and data flows one way through the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "transpose_live"

# Lower layers never import higher ones (same layer: allowed, cycles are checked separately).
LAYERS = {
    "errors": 0, "keypoints": 0, "tables": 0, "poses": 0, "paths": 0, "images": 0, "coco": 0, "device": 0,
    "ultralytics_env": 0, "config": 0, "pose_files": 0, "labels": 0,
    "models": 1, "media": 1, "backends": 1, "runtime": 0,
    "calib": 1,
    "engine": 2, "tracking": 2, "analytics": 2,
    "pipeline": 3, "evaluation": 3, "explain": 3, "training": 3, "labelling": 3,
    "triangulation": 3,
    "chain": 4,
    "bench": 5, "batch": 5,
    "cli": 6, "__main__": 6, "__init__": 6,
}

# Parts that never import each other, either way: the composition root (`chain`, above both) joins them
# (analytics' live overlay reaches the frame stream through `chain.Chain.overlay`).
APART = [("pipeline", "analytics")]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every transpose_live module `path` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("transpose_live")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("transpose_live"):
            found.add(node.module)
            for alias in node.names:  # `from transpose_live.pipeline import writers` names a module
                candidate = f"{node.module}.{alias.name}"
                if candidate in MODULES:
                    found.add(candidate)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) & set(MODULES) for name, path in MODULES.items()}


def layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "__init__"]


def test_registry_imports_nothing_from_the_package():
    assert GRAPH["transpose_live.models.registry"] == set()


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            # a package's __init__ re-exporting its own submodules is not a cycle
            if nxt == node or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a higher layer, and imports between parts kept APART."""
    def top(name: str) -> str:
        parts = name.split(".")
        return parts[1] if len(parts) > 1 else "__init__"

    apart = {frozenset(pair) for pair in APART}
    return [f"{a} -> {b}" for a, deps in graph.items() for b in deps
            if not a.startswith(b + ".") and (layer(b) > layer(a) or frozenset((top(a), top(b))) in apart)]


def test_layers_only_import_downwards():
    assert upward_imports(GRAPH) == []


def test_the_layer_check_sees_pipeline_and_analytics_importing_each_other():
    """A guard against a check that cannot fail: pipeline -> analytics and analytics -> pipeline are both
    caught (they are joined only by the composition root), and so is a lower layer importing the root."""
    graph = {"transpose_live.pipeline.render": {"transpose_live.analytics.live"},
             "transpose_live.analytics.outputs": {"transpose_live.pipeline.writers"},
             "transpose_live.pipeline.writers": {"transpose_live.chain"},
             "transpose_live.chain": {"transpose_live.pipeline.writers", "transpose_live.analytics.live"}}
    assert upward_imports(graph) == ["transpose_live.pipeline.render -> transpose_live.analytics.live",
                                     "transpose_live.analytics.outputs -> transpose_live.pipeline.writers",
                                     "transpose_live.pipeline.writers -> transpose_live.chain"]


def test_every_top_level_part_has_a_layer():
    tops = {name.split(".")[1] for name in MODULES if "." in name}
    assert tops <= set(LAYERS)


MAX_PARAMETERS, MAX_LINES = 10, 70


def _parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    names = [*a.posonlyargs, *a.args, *a.kwonlyargs]
    count = len(names) + (a.vararg is not None) + (a.kwarg is not None)
    return count - bool(names and names[0].arg in ("self", "cls"))


def test_functions_outside_the_cli_are_small():
    """No function outside cli/ takes more than 10 parameters (self/cls not counted, *args and
    **kwargs counted once each) or spans more than 70 lines (docstring included)."""
    big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if _parameters(node) > MAX_PARAMETERS or lines > MAX_LINES:
                    big.append(f"{rel}:{node.lineno} {node.name}: {_parameters(node)} parameters, {lines} lines")
    assert big == []


def test_the_size_check_sees_a_big_function():
    """The check above counts what it should (a guard against a check that cannot fail)."""
    src = "def f(self, a, b, c, d, e, f, g, h, i, j, *k, **m):\n" + "    pass\n" * 70
    fn = ast.parse(src).body[0]
    assert _parameters(fn) == 12 and fn.end_lineno - fn.lineno + 1 == 71
