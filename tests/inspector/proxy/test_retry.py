"""The resend policy, driven with plain values (RFC 9110 9.2.2, RFC 9112 9.3.1)."""

from __future__ import annotations

import pytest

from inspector.proxy import UpstreamFailure
from inspector.proxy.retry import resend

CLOSED = UpstreamFailure(502, "connection closed",
                         "upstream 127.0.0.1:9 closed the connection before responding")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"])
def test_idempotent_whole_requests_go_again_with_a_note(method: str) -> None:
    again, note = resend(method, True, CLOSED)
    assert again
    assert note == ("sent upstream twice: upstream 127.0.0.1:9 closed the connection before "
                    f"responding, on a reused connection, so the idempotent {method} was "
                    "sent again on a new one")


@pytest.mark.parametrize("method", ["POST", "PATCH", "CONNECT", "LOCK", "get"])
def test_other_methods_never_go_again(method: str) -> None:
    assert resend(method, True, CLOSED) == (
        False, f"not sent again after the reused connection failed: {method} is not "
               "idempotent (RFC 9112 9.3.1)")


def test_a_streamed_body_is_not_sent_again() -> None:
    again, note = resend("PUT", False, CLOSED)
    assert not again and note.endswith("its body was streamed, so the proxy no longer holds "
                                       "all of it")
