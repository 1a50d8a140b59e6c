"""The packages import one way only, lightning_modules -> tune_spaces -> pipeline, and no
module of ours imports itself back through others (no cycle, lazy imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("lightning_modules", "tune_spaces", "pipeline")  # each may import those before it


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every first-party module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in LAYERS}


def graph() -> dict[str, set[str]]:
    files = [path for layer in LAYERS for path in (ROOT / layer).rglob("*.py")]
    modules = {module_name(path): path for path in files}
    return {
        name: {imported for imported in imports_of(path) if imported in modules} - {name}
        for name, path in modules.items()
    }


def test_layers_import_only_downwards():
    wrong = [
        f"{module} imports {imported}"
        for module, imported_modules in graph().items()
        for imported in imported_modules
        if LAYERS.index(imported.split(".")[0]) > LAYERS.index(module.split(".")[0])
    ]
    assert wrong == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, as [a, b, ..., a], or None.

    A package's `__init__` importing its own submodules is how registries fill: not a cycle.
    """
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(edges.get(module, ())):
            if not imported.startswith(f"{module}."):
                cycle = visit(imported, [*path, module])
                if cycle:
                    return cycle
        done.add(module)
        return None

    return next((cycle for module in sorted(edges) if (cycle := visit(module, []))), None)


def test_no_import_cycle():
    edges = graph()
    assert "lightning_modules.specs" in edges["tune_spaces.compound_scaling"]  # it sees imports
    assert find_cycle(edges) is None


def test_no_command_imports_another_or_is_imported():
    """pipeline/commands are thin: flags, then a library. A library never imports a
    command, and no command imports another (what two share belongs in a library); the
    flags they share (`pipeline.cli_flags`) are read by commands only."""
    wrong = [
        f"{module} imports {imported}"
        for module, imported_modules in graph().items()
        for imported in imported_modules
        if imported.startswith("pipeline.commands.") and module != "pipeline.cli"
    ]
    assert wrong == []
    assert "pipeline.api" in graph()["pipeline.commands.leaderboard"]
    flag_readers = {
        module for module, imported in graph().items() if "pipeline.cli_flags" in imported
    }
    assert flag_readers and all(module.startswith("pipeline.commands.") for module in flag_readers)


def test_a_cycle_is_found():
    assert find_cycle({"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}) == [
        "p.a",
        "p.b",
        "p.c",
        "p.a",
    ]
    assert find_cycle({"p": {"p.a"}, "p.a": {"p"}}) is None  # a registry filling itself
