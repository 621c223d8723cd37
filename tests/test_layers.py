"""The core never loads the UI: every module under inspector/ imports without Textual."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import inspector
from tests import ROOT


def test_core_imports_no_textual() -> None:
    modules = sorted(m.name for m in pkgutil.walk_packages(inspector.__path__, "inspector."))
    assert "inspector.capture.middleware" in modules and "inspector.proxy.app" in modules
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui'))\n"
            "print(loaded)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_wrapping_an_app_stays_light() -> None:
    code = ("import sys\nfrom inspector import InspectorMiddleware\n"
            "InspectorMiddleware(lambda s, r, c: None, tap=False)\n"
            "print(sorted(m for m in ('rich', 'textual', 'h11', 'wsproto', 'click') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# The order data takes through the core, lowest first: a module may import its own layer
# and the layers below it, never one above. capture/ is the composition root of the
# in-process side: the middleware starts the publisher, which feeds the tap, the capture
# file and Redis, so it sits above them although its events come first.
LAYERS: list[set[str]] = [
    {"types", "text", "_native"},
    {"events"},
    {"flows"},
    {"findings"},
    {"filters", "io"},
    {"tap"},
    {"capture"},
    {"replay"},
    {"proxy", "demo"},
    {"cli"},
]
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def _part(module: str) -> str | None:
    """'inspector.flows.fold' -> 'flows'; None for the package itself."""
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "inspector" and len(pieces) > 1 else None


def _imports(path: Path, package: str) -> set[str]:
    """Every module a source file imports, at any depth (lazy and type-only imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                pieces = package.split(".")
                base = pieces[: len(pieces) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_every_part_of_the_core_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in (ROOT / "inspector").iterdir()
             if (p.suffix == ".py" and p.stem != "__init__")
             or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts == set(LAYER_OF)


def test_nothing_imports_a_layer_above_it() -> None:
    upward = []
    for path in sorted((ROOT / "inspector").rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        module = ".".join(relative.parts)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        own = _part(module)
        if own is None or own == "__init__":
            continue
        for imported in _imports(path, package):
            other = _part(imported)
            if other in LAYER_OF and LAYER_OF[other] > LAYER_OF[own]:
                upward.append(f"{module} imports {imported}")
    assert upward == []


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from inspector.cli.main import main\n"
                      "from ..tap import server\n")
    imports = _imports(source, "inspector.flows")
    assert "inspector.cli.main" in imports and "inspector.tap.server" in imports
    assert LAYER_OF[_part("inspector.cli.main")] > LAYER_OF["flows"]


def test_the_public_api_names_what_it_exports() -> None:
    from importlib import import_module

    from inspector import _EXPORTS, __all__

    assert sorted(__all__) == sorted(_EXPORTS)
    for name in __all__:
        assert getattr(inspector, name) is getattr(import_module(_EXPORTS[name]), name)
