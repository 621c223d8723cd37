"""A finding, and the collector the checkers emit into.

A `Finding` is a fact about one flow: which rule, how bad, what happened (one line), what
to do (the rule's hint), the seq of the event it points at, and the spec link. Messages
hold captured text (header names, message types), so a printer passes them through
`visible()` like any captured string.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from inspector.events.model import EXIT, SEND, Event
from inspector.findings.rules import BY_ID


class Finding(NamedTuple):
    rule: str
    severity: str
    message: str
    seq: int | None
    hint: str
    link: str
    family: str

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "message": self.message,
                "seq": self.seq, "hint": self.hint, "link": self.link}


def short(value: object, limit: int = 60) -> str:
    """A captured value quoted for a message, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Collector:
    """Where the checkers put findings for one flow.

    `refusal(i)` notes when the server refused the message at index i: the app raised
    right after sending it (the next event of the flow is the exit, with an exception),
    which is what a server's `send()` raising looks like from the record.
    """

    __slots__ = ("events", "found", "_seen", "refused")

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.found: list[Finding] = []
        self._seen: set[tuple[str, int | None]] | None = None    # made by the first `add`
        self.refused = False      # a finding already names the message the server refused

    def add(self, rule_id: str, message: str, i: int | None) -> None:
        """Emit `rule_id` about the event at index `i` (None: about the flow as a whole).

        The same rule on the same event is reported once.
        """
        rule = BY_ID[rule_id]
        event = self.events[i] if i is not None else None
        seq = event.seq if event is not None else None
        key = (rule_id, seq)
        seen = self._seen
        if seen is None:
            self._seen = seen = set()
        elif key in seen:
            return
        seen.add(key)
        if i is not None:
            note = self.refusal(i)
            if note:
                message += note
                self.refused = True
        self.found.append(Finding(rule_id, rule.severity, message, seq, rule.hint, rule.link,
                                  rule.family))

    def refusal(self, i: int) -> str:
        events = self.events
        event = events[i]
        if event.kind != SEND or i + 1 >= len(events):
            return ""
        after = events[i + 1]
        if after.kind != EXIT or not isinstance(after.message, dict):
            return ""
        exc = after.message.get("exception")
        if not exc:
            return ""
        if isinstance(exc, dict):
            what = f"{exc.get('type') or 'Exception'}: {str(exc.get('message') or '')[:120]}"
        else:
            what = str(exc)[:120]
        t = event.message.get("type") if isinstance(event.message, dict) else None
        return f" (the server refused this {t if type(t) is str else 'message'}: {what})"
