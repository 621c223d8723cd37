"""Raw ASGI apps that each break one family of rules, on purpose.

Each is what an app author could write by mistake; the tests run them (under uvicorn where
the server lets the message through, in-process where it would refuse it) and assert the
exact rule ids found.
"""

from __future__ import annotations

import asyncio
from typing import Any

START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"text/plain")]}


async def _read_body(receive: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)


# -- http state machine ----------------------------------------------------------------------

async def start_twice(scope: Any, receive: Any, send: Any) -> None:
    await _read_body(receive)
    await send(START)
    await send(START)                                  # HM001 (uvicorn raises here)


async def body_before_start(scope: Any, receive: Any, send: Any) -> None:
    await _read_body(receive)
    await send({"type": "http.response.body", "body": b"early"})   # HM002


async def body_after_last(scope: Any, receive: Any, send: Any) -> None:
    await _read_body(receive)
    await send(START)
    await send({"type": "http.response.body", "body": b"done"})
    await send({"type": "http.response.body", "body": b"more"})    # HM003


async def returns_early(scope: Any, receive: Any, send: Any) -> None:
    await _read_body(receive)
    await send(START)
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    # returns without the final body: HM007


async def trailers_unsent(scope: Any, receive: Any, send: Any) -> None:
    await _read_body(receive)
    await send({**START, "trailers": True})                        # EX001: not advertised
    await send({"type": "http.response.body", "body": b"x"})       # HM004 at the end


# -- http semantics (uvicorn passes all of these through) ------------------------------------

async def semantics(scope: Any, receive: Any, send: Any) -> None:
    """/204 with a body; /len a wrong content-length; /dup two content-types and a
    Transfer-Encoding; HEAD with a body."""
    await _read_body(receive)
    path = scope["path"]
    if path == "/204":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b"not allowed"})   # SEM002
    elif path == "/len":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"12345", "more_body": True})
        await send({"type": "http.response.body", "body": b"12345678"})     # SEM001
    else:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"Content-Type", b"text/html"),            # SEM005, SEM006
                                (b"transfer-encoding", b"chunked")]})       # SEM004
        await send({"type": "http.response.body", "body": b"hello"})


async def bad_status(scope: Any, receive: Any, send: Any) -> None:
    await _read_body(receive)
    await send({"type": "http.response.start", "status": 999, "headers": []})   # SEM007
    await send({"type": "http.response.body", "body": b""})


# -- shapes: general and http events (the server refuses these) ------------------------------

async def bad_shapes(scope: Any, receive: Any, send: Any) -> None:
    await _read_body(receive)
    await send({"type": "http.response.begin", "status": 200})      # G002
    await send({"type": "http.response.start", "status": "200",     # HE001
                "headers": [("content-type", "text/plain")]})        # HE002
    await send({"type": "http.response.body", "body": "text, not bytes",   # HE003
                "more_body": 0})                                      # HE004


# -- timeline ----------------------------------------------------------------------------------

async def background(scope: Any, receive: Any, send: Any) -> None:
    """Answers at once, then keeps working 300 ms: what a BackgroundTask does."""
    await _read_body(receive)
    await send(START)
    await send({"type": "http.response.body", "body": b"accepted"})
    await asyncio.sleep(0.3)                                       # TL001


async def unread_body(scope: Any, receive: Any, send: Any) -> None:
    """Answers 413 without reading the upload: TL004."""
    await send({"type": "http.response.start", "status": 413, "headers": []})
    await send({"type": "http.response.body", "body": b""})


# -- websocket ----------------------------------------------------------------------------------

async def ws_send_before_accept(scope: Any, receive: Any, send: Any) -> None:
    await receive()                                                  # websocket.connect
    await send({"type": "websocket.send", "text": "hi"})             # WM001 (refused)


async def ws_accept_twice(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept", "subprotocol": "chat"})  # WE006: not offered
    await send({"type": "websocket.accept"})                         # WM002
    await send({"type": "websocket.send", "text": "x", "bytes": b"x"})   # WE001
    await send({"type": "websocket.close", "code": 1005})            # WE004
    await send({"type": "websocket.send", "text": "late"})           # WM003


async def ws_returns(scope: Any, receive: Any, send: Any) -> None:
    await receive()                                                  # WM005: no answer


# -- lifespan ------------------------------------------------------------------------------------

async def lifespan_out_of_order(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "lifespan.startup.complete"})                # LM001: not asked yet
    await receive()                                                  # lifespan.startup
    await send({"type": "lifespan.startup.complete"})                # LM002
    await send({"type": "lifespan.shutdown.complete"})               # LM003


async def lifespan_leaves(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})
    # returns while the server runs: LM007
