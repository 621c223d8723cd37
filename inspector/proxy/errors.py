"""What can go wrong between the proxy and its upstream, and what the client is told.

An `UpstreamFailure` that happens before the response started becomes a 502 or 504 with a
one-line text body; after it started, the proxy raises `ProxyError` so the server drops the
client connection instead of pretending the response was complete.
"""

from __future__ import annotations

__all__ = ["ProxyError", "UpstreamFailure", "BAD_GATEWAY", "GATEWAY_TIMEOUT"]

BAD_GATEWAY = 502
GATEWAY_TIMEOUT = 504


class ProxyError(Exception):
    """The upstream failed after the response to the client had started (RFC 9112 9.6:
    a response cut short must not look complete, so the connection is closed)."""


class UpstreamFailure(Exception):
    """The upstream could not be reached, was too slow, or broke the protocol.

    `status` is what the client gets if nothing was sent yet (502 or 504); `reason` is the
    short form for the `x-inspector-error` header; `str()` is the full sentence.
    `before_response` says no byte of a response had arrived, so a request on a reused
    connection may be retried on a fresh one.
    """

    def __init__(self, status: int, reason: str, message: str, *,
                 before_response: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.before_response = before_response
