"""The client's WebSocket hop: uvicorn's websockets-sansio protocol, with the fast paths.

uvicorn makes one websockets `ServerProtocol` per connection and drives it as it always
does; this turns that object into a `ClientFacingProtocol` (a subclass: the same state,
plus the fast paths of `ws_protocols` for whole text and binary messages), so that the
client's frames are cut and written the way the upstream's are. Where uvicorn negotiated
permessage-deflate (browsers ask for it), websockets does all the work.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.server import ServerProtocol

from .ws_protocols import ClientFacingProtocol

__all__ = ["ClientFacingWebSocket"]


class ClientFacingWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's `ws="websockets-sansio"` protocol whose websockets protocol has the fast
    paths; where a uvicorn made something else than a plain ServerProtocol, it is left
    as it is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self.conn) is ServerProtocol:
            self.conn.__class__ = ClientFacingProtocol
