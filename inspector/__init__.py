"""asgi-inspector: see every ASGI scope, receive() and send() of an app.

The core (this package) imports no UI: capture, event model, ring buffer, flows, capture
files, the tap socket, the proxy and replay. The dashboard lives in `tui`. Names are
imported on first use, so `import inspector` stays cheap for an app that only wraps.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Capture": "inspector.io.capture_file",
    "CaptureError": "inspector.io.capture_file",
    "read_capture": "inspector.io.capture_file",
    "Event": "inspector.events.model",
    "Flow": "inspector.flows.model",
    "WsMessage": "inspector.flows.model",
    "FlowFolder": "inspector.flows.fold",
    "fold_events": "inspector.flows.fold",
    "InspectorMiddleware": "inspector.capture.middleware",
    "RingBuffer": "inspector.events.ring",
}

if TYPE_CHECKING:
    from inspector.capture.middleware import InspectorMiddleware
    from inspector.events.model import Event
    from inspector.events.ring import RingBuffer
    from inspector.flows.fold import FlowFolder, fold_events
    from inspector.flows.model import Flow, WsMessage
    from inspector.io.capture_file import Capture, CaptureError, read_capture


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inspector' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = ["Capture", "CaptureError", "Event", "Flow", "FlowFolder", "InspectorMiddleware",
           "RingBuffer", "WsMessage", "fold_events", "read_capture"]
__version__ = "0.1.0"
