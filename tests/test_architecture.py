"""The layers' dependencies point one way, and no module imports itself back through others.

ui -> assistant.service only; cli -> assistant, tools, prompts; assistant -> tools, prompts;
tools -> libraries only (never assistant, cli, ui or prompts); prompts and knowledge import
nothing of ours. Every import counts, also those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("tools", "assistant", "cli", "ui", "prompts", "knowledge")
ALLOWED = {
    "tools": {"tools"},
    "assistant": {"assistant", "tools", "prompts"},
    "cli": {"cli", "assistant", "tools", "prompts"},
    "ui": {"ui", "assistant.service"},
    "prompts": {"prompts"},
    "knowledge": {"knowledge"},
}
MAX_LINES = 600
MAX_CLASS_LINES = 250


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for package in OURS for p in sorted((ROOT / package).rglob("*.py"))}


def _imports(module: str, path: Path) -> set[str]:
    """First-party modules imported anywhere in the file (absolute and relative imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in OURS}


SOURCES = _sources()
GRAPH = {module: {m for m in _imports(module, path) if m in SOURCES and m != module} for module, path in SOURCES.items()}


def _allowed(importer: str, imported: str) -> bool:
    layer = importer.split(".")[0]
    return any(imported == a or imported.startswith(a + ".") for a in ALLOWED[layer])


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_imports_point_down(module: str) -> None:
    wrong = sorted(m for m in _imports(module, SOURCES[module]) if not _allowed(module, m))
    assert not wrong, f"{module} imports {wrong}, against the layering {ALLOWED[module.split('.')[0]]}"


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over the module graph: every component is one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package importing its own submodule is not a cycle between modules
            if len(component) > 1 and not all(c == v or c.startswith(v + ".") or v.startswith(c + ".") for c in component):
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def _reason_at_top(path: Path) -> bool:
    head = path.read_text(encoding="utf-8")[:3000].lower()
    return "why this module is long" in head


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_modules_and_classes_stay_readable(module: str) -> None:
    path = SOURCES[module]
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= MAX_LINES or _reason_at_top(path), (
        f"{path.relative_to(ROOT)} has {lines} lines: split it, or say at its top why this module is long"
    )
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"class {node.name} in {path.relative_to(ROOT)} has {size} lines"


def _first_party_from_imports(path: Path) -> list[tuple[str, str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module and node.module.split(".")[0] in OURS:
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
    return found


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if not m.startswith("ui")))
def test_every_first_party_import_resolves(module: str) -> None:
    """Imports inside functions run only when called: check now that each names a real module and attribute."""
    import importlib

    for target, name, line in _first_party_from_imports(SOURCES[module]):
        imported = importlib.import_module(target)
        assert hasattr(imported, name) or f"{target}.{name}" in SOURCES, f"{module}:{line} imports {name} from {target}, which has no such name"
