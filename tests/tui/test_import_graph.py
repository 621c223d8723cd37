"""The modules of `tui/` import each other without a cycle: data flows down, messages up.

Every import counts, including those under `if TYPE_CHECKING:` and inside functions: a
cycle hidden from the interpreter is still two modules that know each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "tui"


def module_name(path: Path, root: Path = TUI) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Every module named by an import statement in `tree` (relative ones resolved)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(root: Path = TUI) -> dict[str, set[str]]:
    """tui module -> the tui modules it imports (a package's import of its own
    __init__ is not an edge)."""
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = imported(tree, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}     # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_checker_finds_a_cycle_hidden_under_type_checking(tmp_path: Path) -> None:
    root = tmp_path / "tui"
    (root / "widgets").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "widgets" / "__init__.py").write_text("")
    (root / "a.py").write_text("from tui.widgets import b\n")
    (root / "widgets" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import A\n")
    (root / "c.py").write_text("import tui.a\n")
    graph = import_graph(root)
    assert graph["tui.widgets.b"] == {"tui.a"}
    assert find_cycle(graph) == ["tui.a", "tui.widgets.b", "tui.a"]
    (root / "widgets" / "b.py").write_text("import json\n")
    assert find_cycle(import_graph(root)) is None


def test_tui_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "tui.app" in graph and "tui.replay_actions" in graph["tui.app"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_replay_desk_knows_nothing_of_the_app() -> None:
    assert "tui.app" not in import_graph()["tui.replay_actions"]
