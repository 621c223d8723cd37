"""Exporters: a table of pure functions from captured events to text.

The CLI's `export` and the dashboard's `x` both come here, so both mask the same secrets
the same way unless the user asks for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from inspector.events.model import Event
from inspector.flows.fold import fold_events
from inspector.flows.model import Flow
from inspector.io.codec import encode_event, encode_header
from inspector.io.secrets import mask_headers

Predicate = Callable[[Flow], bool]


def _chosen(events: list[Event], predicate: Predicate | None) -> tuple[list[Flow], set[int]]:
    from inspector.findings import analyse_events

    folded = fold_events(events)
    analyse_events(events, folded)     # findings for HAR and the `finding:` filter terms
    flows = [f for f in folded if f.type in ("http", "websocket")]
    if predicate is not None:
        flows = [f for f in flows if predicate(f)]
    return flows, {f.conn for f in flows}


def _masked_event(event: Event, extra: Iterable[str]) -> Event:
    headers = event.message.get("headers")
    if not isinstance(headers, (list, tuple)):
        return event
    message = dict(event.message)
    message["headers"] = mask_headers(headers, extra)
    return event._replace(message=message)


def export_jsonl(header: dict[str, Any], events: list[Event], flows: list[Flow], conns: set[int],
                 include_secrets: bool, secret_headers: Iterable[str]) -> str:
    lines = [encode_header({k: v for k, v in header.items() if k not in ("format", "version")})]
    for event in events:
        if event.conn in conns:
            if not include_secrets:
                event = _masked_event(event, secret_headers)
            lines.append(encode_event(event))
    return "\n".join(lines) + "\n"


def export_har(header: dict[str, Any], events: list[Event], flows: list[Flow], conns: set[int],
               include_secrets: bool, secret_headers: Iterable[str]) -> str:
    import json

    from inspector.io.har import flows_to_har

    har = flows_to_har(flows, float(header.get("started") or 0.0),
                       include_secrets=include_secrets, secret_headers=tuple(secret_headers))
    return json.dumps(har, indent=2, ensure_ascii=False) + "\n"


def export_curl(header: dict[str, Any], events: list[Event], flows: list[Flow], conns: set[int],
                include_secrets: bool, secret_headers: Iterable[str]) -> str:
    from inspector.io.curl import flow_to_curl

    commands = [flow_to_curl(f, include_secrets=include_secrets,
                             secret_headers=tuple(secret_headers))
                for f in flows if f.type == "http"]
    return "".join(c + "\n" for c in commands)


EXPORTERS = {"har": export_har, "curl": export_curl, "jsonl": export_jsonl}


def export_text(fmt: str, header: dict[str, Any], events: list[Event], *,
                predicate: Predicate | None = None, include_secrets: bool = False,
                secret_headers: Iterable[str] = ()) -> str:
    """The flows of `events` (those `predicate` keeps) in format "har", "curl" or "jsonl"."""
    flows, conns = _chosen(events, predicate)
    return EXPORTERS[fmt](header, events, flows, conns, include_secrets, tuple(secret_headers))
