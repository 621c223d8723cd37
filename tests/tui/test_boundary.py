"""The core and the dashboard's pure modules never load Textual (Harlequin's check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PURE = ["inspector.tap.feeds", "tui.flow_store", "tui.event_log", "tui.stats", "tui.model",
        "tui.columns", "tui.body", "tui.detail_text"]


def test_pure_modules_do_not_import_textual() -> None:
    code = ("import sys\n"
            f"for name in {PURE!r}:\n"
            "    __import__(name)\n"
            "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "print(','.join(loaded))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == ""
