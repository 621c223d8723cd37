"""Which headers hold secrets, and how exports hide them.

Exports leave the machine (a HAR attached to a bug report, a curl line pasted in a chat),
so every exporter masks credentials unless the user asks for them. Masking keeps what a
reader needs to debug: the header itself, the auth scheme ("Bearer", "Basic"), the names of
cookies and a Set-Cookie's attributes; only the secret part becomes `MASK`. Pure: headers
in, headers out, in the same (bytes or str) type.

Not in the default list: CSRF tokens (`x-csrf-token`, `x-xsrf-token`). They are only worth
something together with the session cookie, which is masked, and seeing them is how one
debugs a 403 from a CSRF check. Pass them in `extra` to mask them too. Secrets outside
headers (an `?api_key=` in the query, a token in a body) are not masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

MASK = "<masked>"

DEFAULT_SECRET_HEADERS: frozenset[str] = frozenset({
    "authorization",                 # RFC 9110 §11.6.2
    "proxy-authorization",           # RFC 9110 §11.7.2
    "cookie",                        # RFC 6265 §5.4
    "set-cookie",                    # RFC 6265 §4.1
    "x-api-key",                     # AWS API Gateway and many others
    "api-key",                       # Azure OpenAI / Cognitive Services
    "x-auth-token",                  # OpenStack, many homegrown APIs
    "x-access-token",
    "x-amz-security-token",          # AWS temporary credentials
    "x-goog-api-key",                # Google Cloud
    "ocp-apim-subscription-key",     # Azure API Management
    "private-token",                 # GitLab
    "x-vault-token",                 # HashiCorp Vault
})

# Headers whose value is "<auth-scheme> <credentials>" (RFC 9110 §11.4): the scheme stays.
_SCHEMED = frozenset({"authorization", "proxy-authorization"})
_SCHEME = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]+\S")   # token, RFC 9110 §5.6.2

def secret_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """The default secret header names plus `extra`, lowercased."""
    return DEFAULT_SECRET_HEADERS | {name.strip().lower() for name in extra}


def is_secret(name: str | bytes, extra: Iterable[str] = ()) -> bool:
    """Whether a header of this name is masked by default (or is one of `extra`)."""
    text = name.decode("latin-1") if isinstance(name, bytes) else name
    return text.lower() in secret_names(extra)


def mask_value(name: str, value: str) -> str:
    """A secret header's value with the secret parts replaced by `MASK`.

    Authorization keeps its scheme ("Bearer <masked>"); Cookie keeps cookie names
    ("a=<masked>; b=<masked>"); Set-Cookie keeps the name and attributes
    ("sid=<masked>; Path=/; HttpOnly"); anything else is just `MASK`.
    """
    name = name.lower()
    if name in _SCHEMED:
        match = _SCHEME.match(value)
        return f"{match.group(1)} {MASK}" if match else MASK
    if name == "cookie":
        return "; ".join(_mask_pair(pair.strip()) for pair in value.split(";") if pair.strip())
    if name == "set-cookie":
        first, sep, attributes = value.partition(";")
        return _mask_pair(first.strip()) + sep + attributes
    return MASK


def _mask_pair(pair: str) -> str:
    name, sep, _ = pair.partition("=")
    return f"{name.strip()}={MASK}" if sep else MASK


def _masked(name: str, value: bytes | str) -> bytes | str:
    if isinstance(value, bytes):
        # latin-1 maps every byte to one char and back: a non-UTF-8 cookie name survives.
        return mask_value(name, value.decode("latin-1")).encode("latin-1")
    return mask_value(name, value)


def mask_headers(headers: Iterable[Sequence[Any]], extra: Iterable[str] = (),
                 include_secrets: bool = False) -> list[Any]:
    """`headers` ((name, value) pairs, bytes or str) with secret values masked.

    Pairs keep their order and type; anything that is not a pair of bytes or str passes
    through untouched (captured data is not trusted to be well formed). With
    `include_secrets` the headers come back as they are, as a new list.
    """
    items = list(headers)
    if include_secrets:
        return items
    names = secret_names(extra)
    out: list[Any] = []
    for pair in items:
        if isinstance(pair, (tuple, list)) and len(pair) == 2:
            name, value = pair
            if isinstance(name, (bytes, str)) and type(value) is type(name):
                key = name.decode("latin-1") if isinstance(name, bytes) else name
                if key.lower() in names:
                    pair = (name, _masked(key, value))
        out.append(pair)
    return out
