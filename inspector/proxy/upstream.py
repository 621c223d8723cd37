"""Where the proxy forwards to: `parse_upstream` turns a URL into an `Upstream`.

Pure. A bad URL is the user's typo on a command line, so every error is one line that says
what was wrong and what is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Upstream", "parse_upstream", "shown_url"]

_PASSWORD = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?([^/@:]*):[^/@]*@")


def shown_url(url: str) -> str:
    """`url` safe to print in an error or a header: a password in it becomes ***."""
    return _PASSWORD.sub(r"\1\2:***@", url)


@dataclass(frozen=True, slots=True)
class Upstream:
    """An HTTP/1.1 origin the proxy connects to over TCP, or TLS if `tls`."""

    host: str
    port: int
    tls: bool = False

    @property
    def authority(self) -> str:
        """host:port as written in a Host header (RFC 9110 7.2), without the scheme's
        default port; IPv6 in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"

    @property
    def address(self) -> str:
        """host:port always with the port, for messages ("upstream 127.0.0.1:9 ...")."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """scheme://host[:port], as headers and banners show it (an Upstream never holds
        credentials: `parse_upstream` refuses them)."""
        return f"{'https' if self.tls else 'http'}://{self.authority}"


def parse_upstream(url: str) -> Upstream:
    """Parse "http://host[:port]" or "https://host[:port]" ("ws://" and "wss://" name the
    same servers); raise ValueError otherwise.

    Error messages quote the URL with any password masked (`shown_url`)."""
    text = url.strip()
    url = shown_url(url)
    if "://" not in text:
        raise ValueError(f"upstream {url!r} has no scheme: write it as http://host:port")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "ws", "https", "wss"):
        raise ValueError(f"upstream {url!r}: scheme {scheme}:// is not supported; use "
                         "http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"upstream {url!r}: credentials in the URL are not supported")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"upstream {url!r}: the port must be a number from 1 to 65535") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"upstream {url!r} has no host: write it as http://host:port")
    if port == 0:
        raise ValueError(f"upstream {url!r}: the port must be a number from 1 to 65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"upstream {url!r}: only http://host:port is accepted, without a "
                         "path, query or fragment (requests keep their own path)")
    tls = scheme in ("https", "wss")
    return Upstream(host=host, port=(443 if tls else 80) if port is None else port, tls=tls)
