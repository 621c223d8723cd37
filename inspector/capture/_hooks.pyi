"""Types of the C capture hooks (`_hooks.c`); `inspector.capture.recorder` and
`inspector.capture.middleware` hold their Python twins."""

from collections.abc import Awaitable
from typing import Any

class Capture:
    """How a recorder's hooks record: built from the recorder's bound methods."""

    def __init__(self, recorder: Any, scope_skip: tuple[str, ...], /) -> None: ...
    def hooks(self, conn: int, receive: Any, send: Any, /) -> tuple[Any, Any]: ...
    def call(self, app: Any, scope: Any, receive: Any, send: Any, /) -> Awaitable[None]: ...

class Middleware:
    """The base of InspectorMiddleware: its __call__, in C."""

    app: Any
    recorder: Any
    exclude_paths: frozenset[str]
    _pid_cell: list[int]
    _publisher_pid: int | None
    def __call__(self, scope: Any, receive: Any, send: Any, /) -> Awaitable[None]: ...
