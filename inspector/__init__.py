"""asgi-inspector: see every ASGI scope, receive() and send() of an app.

The core (this package) imports no UI: capture, event model, ring buffer, flows, capture
files, the tap socket, the proxy and replay. The dashboard lives in `tui`. Names are
imported on first use, so `import inspector` stays cheap for an app that only wraps.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Capture": "inspector.capture",
    "CaptureError": "inspector.capture",
    "read_capture": "inspector.capture",
    "Event": "inspector.events",
    "Flow": "inspector.flow_model",
    "WsMessage": "inspector.flow_model",
    "FlowFolder": "inspector.flows",
    "fold_events": "inspector.flows",
    "InspectorMiddleware": "inspector.middleware",
    "RingBuffer": "inspector.ring",
}

if TYPE_CHECKING:
    from inspector.capture import Capture, CaptureError, read_capture
    from inspector.events import Event
    from inspector.flow_model import Flow, WsMessage
    from inspector.flows import FlowFolder, fold_events
    from inspector.middleware import InspectorMiddleware
    from inspector.ring import RingBuffer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inspector' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"
