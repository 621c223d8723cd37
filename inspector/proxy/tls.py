"""TLS towards an https:// or wss:// upstream: the client context, and what a failed
handshake tells the user.

The upstream's certificate is verified as a browser or curl would: against the system's
CA store, or only the CAs in `ca_file` (curl's --cacert), for the upstream's host name,
which also goes out as SNI. `insecure` turns verification off (curl's --insecure), for a
development server with a self-signed certificate. ALPN offers http/1.1 alone: both hops
the proxy speaks are HTTP/1.1 (a WebSocket upgrade needs it too).
"""

from __future__ import annotations

import ssl

from .errors import BAD_GATEWAY, UpstreamFailure
from .upstream import Upstream

__all__ = ["client_context", "tls_failure"]


def client_context(ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """The context for connections to a TLS upstream; ValueError (one line) if `ca_file`
    cannot be read as PEM certificates."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except FileNotFoundError:
        raise ValueError(f"CA file {ca_file!r} does not exist") from None
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise ValueError(f"CA file {ca_file!r} could not be read as PEM certificates "
                         f"({why})") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def tls_failure(upstream: Upstream, exc: ssl.SSLError) -> UpstreamFailure:
    """A 502 for a TLS handshake the upstream's side made fail."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or str(exc)
        return UpstreamFailure(BAD_GATEWAY, "certificate not trusted",
                               f"upstream {upstream.address} presented a certificate that "
                               f"was not accepted: {why} (trust its CA with --ca-file, or "
                               f"skip the check with --insecure)")
    return UpstreamFailure(BAD_GATEWAY, "tls handshake failed",
                           f"TLS handshake with upstream {upstream.address} failed: "
                           f"{exc.reason or exc}")
