"""Which capture path this process runs: the C extensions, or the pure-Python twins.

The C extensions (`_encoder`, `_hooks`) are optional: a machine without a compiler
installs without them, and every module that uses one falls back to its Python twin.
`ASGI_INSPECTOR_PURE_PYTHON=1` in the environment forces that fallback where the
extensions are built too (to test the Python path, or to rule the C out). It is read
once, when this module is first imported, so one process never mixes the two paths.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

PURE_PYTHON_ENV = "ASGI_INSPECTOR_PURE_PYTHON"

PURE_PYTHON = os.environ.get(PURE_PYTHON_ENV, "").strip() not in ("", "0")


# Where each extension lives: the encoder beside the ring it fills, the hooks beside the
# recorder that hands them out.
MODULES = {"_encoder": "inspector.events._encoder", "_hooks": "inspector.capture._hooks"}


def native(name: str) -> ModuleType | None:
    """The C extension `name` ("_encoder" or "_hooks"), or None: forced off by the
    environment, or not built."""
    if PURE_PYTHON:
        return None
    try:
        return importlib.import_module(MODULES[name])
    except ImportError:
        return None


def c_path() -> bool:
    """True when this process captures through both C extensions."""
    return native("_encoder") is not None and native("_hooks") is not None
