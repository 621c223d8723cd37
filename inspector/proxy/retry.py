"""When the proxy sends a request upstream a second time, and what the capture is told. Pure.

The upstream may close an idle keep-alive connection just as the proxy reuses it. A
request that then fails before any byte of a response arrived is sent once more, on a new
connection, only if that cannot repeat an effect: its method is idempotent (RFC 9110
9.2.2) and the proxy still holds all of it (a streamed body is partly gone). A proxy must
not resend anything else on its own (RFC 9112 9.3.1): a POST on a connection that dies is
a 502. Either way the exchange notes it for the capture (`events.NOTES_KEY` on the
response's http.response.start, which the server ignores and the fold turns into
`Flow.notes`): the resend is not the client's, and the refusal explains the 502.
"""

from __future__ import annotations

from .errors import UpstreamFailure

__all__ = ["IDEMPOTENT", "resend"]

# RFC 9110 9.2.2: requests whose intended effect is the same sent once or many times.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def resend(method: str, whole: bool, failure: UpstreamFailure) -> tuple[bool, str]:
    """Whether a request that failed on a reused connection before any response byte
    goes out again (`whole`: the proxy still holds all of it), and the note saying so."""
    if method not in IDEMPOTENT:
        why = f"{method} is not idempotent (RFC 9112 9.3.1)"
    elif not whole:
        why = "its body was streamed, so the proxy no longer holds all of it"
    else:
        return True, (f"sent upstream twice: {failure}, on a reused connection, so the "
                      f"idempotent {method} was sent again on a new one")
    return False, f"not sent again after the reused connection failed: {why}"
