"""The rules: one table, the only place a rule's id, family, severity and words live.

Checkers (`shapes`, `http`, `websocket`, `lifespan`, `timeline`) emit findings by rule
id; the reference page `docs/findings.md` is generated from this table
(`inspector.findings.docs`), so the docs and the code cannot drift apart. Ids are stable:
a rule that goes away leaves its id unused, never reused.
"""

from __future__ import annotations

from typing import NamedTuple

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (INFO, WARNING, ERROR)           # in rising order
RANK = {INFO: 0, WARNING: 1, ERROR: 2}

_SPEC = "https://asgi.readthedocs.io/en/latest/specs/"
MAIN = _SPEC + "main.html"
WWW = _SPEC + "www.html"
LIFESPAN = _SPEC + "lifespan.html"
EXT = _SPEC + "extensions.html"
RFC9110 = "https://www.rfc-editor.org/rfc/rfc9110"
RFC9112 = "https://www.rfc-editor.org/rfc/rfc9112"
RFC6455 = "https://www.rfc-editor.org/rfc/rfc6455"


class Rule(NamedTuple):
    id: str
    family: str
    severity: str
    summary: str
    hint: str
    link: str


# family id -> title, in the order of the reference page.
FAMILIES = {
    "general": "General message types",
    "http-scope": "HTTP scope fields",
    "websocket-scope": "WebSocket scope fields",
    "lifespan-scope": "Lifespan scope fields",
    "http-events": "HTTP event schemas",
    "websocket-events": "WebSocket event schemas",
    "lifespan-events": "Lifespan event schemas",
    "http-state": "HTTP state machine",
    "websocket-state": "WebSocket state machine",
    "lifespan-state": "Lifespan state machine",
    "extensions": "Extensions",
    "http-semantics": "HTTP semantics",
    "timeline": "Timeline (what only timestamps show)",
}

_R = Rule
RULES: tuple[Rule, ...] = (
    # -- general --------------------------------------------------------------------------
    _R("G001", "general", ERROR, "A message is not a dict with a string 'type'",
       "Every ASGI message is a dict whose 'type' key names the event.", MAIN + "#events"),
    _R("G002", "general", ERROR, "A message type this scope type does not define",
       "Check the spelling: http.response.start, websocket.send, lifespan.startup.complete...",
       MAIN + "#events"),
    _R("G003", "general", INFO, "The scope's 'asgi' key is missing or has no string 'version'",
       "A server's detail, not the app's: Starlette's TestClient leaves it out.",
       MAIN + "#connection-scope"),
    # -- http scope -----------------------------------------------------------------------
    _R("HS001", "http-scope", ERROR, "HTTP scope 'method' is missing or not a string",
       "The method is an uppercase str, such as 'GET'.", WWW + "#http-connection-scope"),
    _R("HS002", "http-scope", WARNING, "HTTP scope 'method' is not uppercase",
       "Servers pass the method uppercased.", WWW + "#http-connection-scope"),
    _R("HS003", "http-scope", ERROR, "Scope 'path' is missing or not a string",
       "path is the decoded request target without the query string, as str.",
       WWW + "#http-connection-scope"),
    _R("HS004", "http-scope", ERROR, "Scope 'query_string' is not bytes",
       "query_string is the raw bytes after '?', not decoded.", WWW + "#http-connection-scope"),
    _R("HS005", "http-scope", ERROR, "Scope 'headers' is not a list of [bytes, bytes] pairs",
       "Header names and values are byte strings.", WWW + "#http-connection-scope"),
    _R("HS006", "http-scope", WARNING, "Scope header names are not lowercase",
       "The spec asks servers for lowercased request header names.",
       WWW + "#http-connection-scope"),
    _R("HS007", "http-scope", WARNING, "Scope 'http_version' is not 1.0, 1.1, 2 or 3",
       "http_version is a str such as '1.1' or '2'.", WWW + "#http-connection-scope"),
    _R("HS008", "http-scope", WARNING, "Scope 'scheme' is empty or not a string",
       "scheme is optional but must not be empty (http, https, ws, wss).",
       WWW + "#http-connection-scope"),
    # -- websocket scope ------------------------------------------------------------------
    _R("WS001", "websocket-scope", ERROR, "WebSocket scope 'subprotocols' is not a list of strings",
       "subprotocols lists what the client offered, as str.",
       WWW + "#websocket-connection-scope"),
    _R("WS002", "websocket-scope", WARNING, "WebSocket scope 'scheme' is not ws or wss",
       "A WebSocket scope's scheme is 'ws' or 'wss'.", WWW + "#websocket-connection-scope"),
    # -- lifespan scope -------------------------------------------------------------------
    _R("LS001", "lifespan-scope", ERROR, "Lifespan scope 'state' is not a dict",
       "state is a dict the app may fill at startup and read in every request scope.",
       LIFESPAN + "#scope"),
    # -- http events ----------------------------------------------------------------------
    _R("HE001", "http-events", ERROR, "http.response.start 'status' is not an integer",
       "Send status=200, not '200' or 200.0.", WWW + "#response-start-send-event"),
    _R("HE002", "http-events", ERROR, "Response headers are not a list of [bytes, bytes] pairs",
       "Encode header names and values: (b'content-type', b'text/plain').",
       WWW + "#response-start-send-event"),
    _R("HE003", "http-events", ERROR, "http.response.body 'body' is not bytes",
       "Encode the body (text.encode()) before sending it.", WWW + "#response-body-send-event"),
    _R("HE004", "http-events", ERROR, "A flag ('more_body', 'trailers', 'more_trailers') is not a bool",
       "Flags are True or False; servers test them as bools.", WWW + "#response-body-send-event"),
    _R("HE005", "http-events", ERROR, "http.request from the server has a malformed body or flag",
       "body is bytes and more_body a bool; the server (or proxy) broke the message.",
       WWW + "#request-receive-event"),
    # -- websocket events -----------------------------------------------------------------
    _R("WE001", "websocket-events", ERROR, "websocket.send needs exactly one of 'bytes' and 'text'",
       "Set one of them and leave the other None (or out).", WWW + "#send-send-event"),
    _R("WE002", "websocket-events", ERROR, "websocket.send 'bytes' is not bytes or 'text' not str",
       "Send text as str in 'text' and binary as bytes in 'bytes'.", WWW + "#send-send-event"),
    _R("WE003", "websocket-events", ERROR, "websocket.close 'code' is not an int or 'reason' not a str",
       "code defaults to 1000; reason is a str.", WWW + "#close-send-event"),
    _R("WE004", "websocket-events", WARNING, "websocket.close code may not be sent in a Close frame",
       "Use 1000-1003, 1007-1014 or 3000-4999 (1004-1006 and 1015 are reserved).",
       RFC6455 + "#section-7.4.1"),
    _R("WE005", "websocket-events", ERROR, "websocket.accept 'subprotocol' or 'headers' malformed",
       "subprotocol is a str or None; headers are [bytes, bytes] pairs.",
       WWW + "#accept-send-event"),
    _R("WE006", "websocket-events", WARNING, "Accepted a subprotocol the client did not offer",
       "Pick one of scope['subprotocols'], or None.", WWW + "#accept-send-event"),
    _R("WE007", "websocket-events", ERROR, "websocket.receive from the server needs exactly one of bytes/text",
       "The server (or proxy) broke the message.", WWW + "#receive-receive-event"),
    # -- lifespan events ------------------------------------------------------------------
    _R("LE001", "lifespan-events", ERROR, "A lifespan *.failed 'message' is not a string",
       "message is a str the server shows to the operator.",
       LIFESPAN + "#startup-failed-send-event"),
    # -- http state machine ---------------------------------------------------------------
    _R("HM001", "http-state", ERROR, "http.response.start sent twice",
       "A response starts once; check middleware that answers and then calls the app.",
       WWW + "#response-start-send-event"),
    _R("HM002", "http-state", ERROR, "http.response.body before http.response.start",
       "Send the start (status, headers) first.", WWW + "#response-body-send-event"),
    _R("HM003", "http-state", ERROR, "A response message after the response was complete",
       "After more_body=False (and the trailers, if announced) nothing more may be sent.",
       WWW + "#response-body-send-event"),
    _R("HM004", "http-state", ERROR, "Trailers announced in http.response.start but never sent",
       "With trailers=True, finish with http.response.trailers (more_trailers=False).",
       EXT + "#http-trailers"),
    _R("HM005", "http-state", ERROR, "http.response.trailers without trailers=True in the start",
       "Announce trailers in http.response.start.", EXT + "#http-trailers"),
    _R("HM006", "http-state", ERROR, "http.response.trailers before the final body",
       "Trailers follow the body message with more_body=False.", EXT + "#http-trailers"),
    _R("HM007", "http-state", ERROR, "The app returned without completing the response",
       "Send http.response.start and a final http.response.body before returning.",
       WWW + "#response-body-send-event"),
    _R("HM008", "http-state", WARNING, "The app raised before completing the response",
       "The server answered for it (usually a 500) or cut the connection.",
       MAIN + "#error-handling"),
    # -- websocket state machine ----------------------------------------------------------
    _R("WM001", "websocket-state", ERROR, "websocket.send before websocket.accept",
       "Accept the connection first.", WWW + "#accept-send-event"),
    _R("WM002", "websocket-state", ERROR, "websocket.accept sent twice",
       "A handshake is answered once.", WWW + "#accept-send-event"),
    _R("WM003", "websocket-state", ERROR, "A message after websocket.close",
       "After close, only return; the connection is gone.", WWW + "#close-send-event"),
    _R("WM004", "websocket-state", ERROR, "A denial response mixed with accept",
       "Answer the handshake with websocket.accept, websocket.close or a denial response, once.",
       EXT + "#websocket-denial-response"),
    _R("WM005", "websocket-state", ERROR, "The app returned without answering the handshake",
       "Send websocket.accept or websocket.close; the server answered 403 for it.",
       WWW + "#connect-receive-event"),
    _R("WM006", "websocket-state", WARNING, "The app raised before answering the handshake",
       "The server refused the connection for it (HTTP 403 or 500).", MAIN + "#error-handling"),
    _R("WM007", "websocket-state", ERROR, "Denial response body out of order",
       "websocket.http.response.body comes after its start and before the final body.",
       EXT + "#websocket-denial-response"),
    # -- lifespan state machine -----------------------------------------------------------
    _R("LM001", "lifespan-state", ERROR, "Startup answered before lifespan.startup arrived",
       "Wait for receive() to give lifespan.startup.", LIFESPAN + "#startup-receive-event"),
    _R("LM002", "lifespan-state", ERROR, "Startup or shutdown answered twice",
       "Send one of *.complete or *.failed, once.", LIFESPAN + "#startup-complete-send-event"),
    _R("LM003", "lifespan-state", ERROR, "Shutdown answered before lifespan.shutdown arrived",
       "Wait for receive() to give lifespan.shutdown.", LIFESPAN + "#shutdown-receive-event"),
    _R("LM004", "lifespan-state", ERROR, "A lifespan message after shutdown was answered",
       "After lifespan.shutdown.complete, return.", LIFESPAN + "#shutdown-complete-send-event"),
    _R("LM005", "lifespan-state", WARNING, "The app returned without answering lifespan.startup",
       "Send lifespan.startup.complete (or .failed), or raise to say lifespan is unsupported.",
       LIFESPAN + "#startup-complete-send-event"),
    _R("LM006", "lifespan-state", INFO, "The app raised on the lifespan scope: no lifespan support",
       "Servers carry on without lifespan events; fine for apps that need no startup.",
       LIFESPAN + "#scope"),
    _R("LM007", "lifespan-state", WARNING, "The app left the lifespan before shutdown",
       "Keep awaiting receive() until lifespan.shutdown, then answer it.",
       LIFESPAN + "#shutdown-receive-event"),
    # -- extensions -----------------------------------------------------------------------
    _R("EX001", "extensions", ERROR, "An extension message the server did not advertise",
       "Check scope['extensions'] before sending trailers, pathsend, zerocopy, early hints "
       "or a WebSocket denial response.", EXT),
    _R("EX002", "extensions", ERROR, "http.response.pathsend 'path' is not an absolute path",
       "Send a str absolute path of the file to serve.", EXT + "#path-send"),
    # -- http semantics -------------------------------------------------------------------
    _R("SEM001", "http-semantics", ERROR, "Content-Length does not match the body sent",
       "Set Content-Length to the body's byte length, or leave it out and stream.",
       RFC9110 + "#section-8.6"),
    _R("SEM002", "http-semantics", ERROR, "A body on a 1xx, 204 or 304 response",
       "These statuses never carry content; send an empty body.", RFC9110 + "#section-6.4.1"),
    _R("SEM003", "http-semantics", INFO, "A body in the response to HEAD",
       "The server drops it; Starlette's Response sends it anyway, so this is only a note.", RFC9110 + "#section-9.3.2"),
    _R("SEM004", "http-semantics", WARNING, "Transfer-Encoding set by the app",
       "Framing is the server's job: leave Transfer-Encoding out.", RFC9112 + "#section-6.1"),
    _R("SEM005", "http-semantics", WARNING, "Content-Type sent more than once",
       "Send one Content-Type header.", RFC9110 + "#section-8.3"),
    _R("SEM006", "http-semantics", INFO, "Response header names are not lowercase",
       "The spec asks for lowercase names; Django keeps the case on purpose for old clients.",
       WWW + "#response-start-send-event"),
    _R("SEM007", "http-semantics", ERROR, "Status outside 100-599",
       "HTTP status codes are three digits, 100 to 599.", RFC9110 + "#section-15"),
    _R("SEM008", "http-semantics", ERROR, "Content-Length is not a number, or disagrees with itself",
       "Send one Content-Length with the decimal byte count.", RFC9110 + "#section-8.6"),
    _R("SEM009", "http-semantics", ERROR, "A header name or value a server must refuse",
       "Names are tokens; values hold no CR, LF or NUL (response splitting).",
       RFC9110 + "#section-5.5"),
    # -- timeline -------------------------------------------------------------------------
    _R("TL001", "timeline", INFO, "Background work after the response",
       "The app kept running after the last response byte; the flow's duration hides it.",
       MAIN + "#applications"),
    _R("TL002", "timeline", WARNING, "The app sent messages after the client left",
       "Watch for http.disconnect / websocket.disconnect and stop sending.",
       WWW + "#disconnect-receive-event-http"),
    _R("TL003", "timeline", INFO, "The app kept running long after the client left",
       "Cancel work when receive() gives a disconnect.", WWW + "#disconnect-receive-event-http"),
    _R("TL004", "timeline", INFO, "The request body was never read",
       "The app answered before the last http.request (more_body=False).",
       WWW + "#request-receive-event"),
    _R("TL005", "timeline", INFO, "A long stall in a stream",
       "The longest gap between body chunks or WebSocket messages passed the threshold.",
       MAIN + "#applications"),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
