"""An Input that never holds a control character.

Textual's Input draws its value as is: text pasted from a capture (a path holding an OSC
sequence) would reach the terminal. Whatever is set, typed or pasted is stored with its
controls made visible (`\\e`, `\\x07`), the same way captured text is shown everywhere else.
"""

from __future__ import annotations

from textual.widgets import Input

from inspector.text import visible


class SafeInput(Input):
    """`Input` whose value is always terminal-safe."""

    def validate_value(self, value: str) -> str:
        return visible(value)
