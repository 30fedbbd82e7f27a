"""The house's one-way data flow, checked on the source: no module imports a package above its
own (function-level imports included), and no two modules import each other, directly or
through others. A new package gets a rank in LAYERS."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "scoreline"

#: rank of each top-level module or package: a module may import its own rank and below
LAYERS = {
    "config": 0,
    "progress": 0,
    "engine": 0,
    "data": 1,
    "features": 2,
    "models": 3,
    "evaluation": 4,
    "tracking": 5,
    "tuning": 6,
    "pipeline": 7,
    "promotion": 8,
    "forecasts": 9,
    "predictions": 9,
    "monitoring": 10,
    "matchday": 10,
    "operations": 10,
    "serving": 10,
    "live": 10,
    "cli": 11,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``scoreline`` module ``path`` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scoreline"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("scoreline"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _layer(module: str) -> tuple[str, int | None]:
    top = module.split(".")[1] if "." in module else ""
    return top, LAYERS.get(top)


def test_every_package_has_a_layer():
    unranked = sorted({_layer(m)[0] for m in _graph() if m != "scoreline" and _layer(m)[1] is None})
    assert not unranked, f"give these a rank in LAYERS: {unranked}"


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, imported in _graph().items():
        top, rank = _layer(module)
        for target in imported:
            target_top, target_rank = _layer(target)
            if rank is not None and target_rank is not None and target_rank > rank:
                upward.append(f"{module} ({top}, {rank}) imports {target} ({target_top}, {target_rank})")
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles_between_modules():
    graph = _graph()
    # a package's __init__ re-exporting its own modules is not a cycle between modules
    edges = {
        m: {t for t in ts if not (m.count(".") < t.count(".") and t.startswith(m + "."))}
        for m, ts in graph.items()
    }
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("module", ["scoreline.serving.service", "scoreline.serving.answers"])
def test_the_service_module_imports_no_job(module):
    """``serving/`` holds HTTP only: it may read the core, never a job that runs the product."""
    jobs = {"matchday", "operations", "cli", "pipeline", "tuning"}
    imported = _graph()[module]
    assert not {m for m in imported if _layer(m)[0] in jobs}
