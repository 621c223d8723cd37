"""The core never loads the UI: every module under inspector/ imports without Textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

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
