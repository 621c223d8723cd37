"""The ASGI types, defined once: scopes, messages, receive/send callables, applications.

As the ASGI spec has them (https://asgi.readthedocs.io/en/latest/specs/main.html): a scope
and a message are mappings of str keys, `receive` is awaited for the next message, `send`
is awaited with one, and an application is awaited with all three.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Raw header pairs as ASGI carries them: (name, value), both bytes.
Headers = list[tuple[bytes, bytes]]
