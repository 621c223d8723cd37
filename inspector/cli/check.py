"""`asgi-inspector check CAPTURE|HAR`: the findings of a saved capture, for people and CI.

Exit status: 0 when no finding at or above --min-severity remains after --select and
--ignore, 1 when one does, 2 when the file cannot be read (one line on stderr).
`report()` and `selected()` are pure; the command only reads the file and prints.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import click

from inspector.findings import RANK, analyse_events
from inspector.findings.finding import Finding
from inspector.findings.rules import BY_ID, SEVERITIES
from inspector.flows.model import Flow
from inspector.text import visible

Hit = tuple[Flow, Finding]


class Unreadable(click.ClickException):
    """The capture cannot be read: exit status 2, apart from a finding's 1."""

    exit_code = 2


def selected(pairs: Iterable[tuple[Flow, Iterable[Finding]]], min_severity: str,
             select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[Hit]:
    """(flow, finding) pairs at or above `min_severity`, whose rule id starts with one of
    `select` (when given) and with none of `ignore`."""
    rank = RANK[min_severity]
    chosen = tuple(s.upper() for s in select)
    dropped = tuple(s.upper() for s in ignore)
    out = []
    for flow, findings in pairs:
        for f in findings:
            if RANK[f.severity] < rank or (chosen and not f.rule.startswith(chosen)) \
                    or (dropped and f.rule.startswith(dropped)):
                continue
            out.append((flow, f))
    return out


def _what(flow: Flow) -> str:
    if flow.type == "lifespan":
        return "lifespan"
    method = "WS" if flow.type == "websocket" else visible(flow.method)
    return f"{method} {visible(flow.root_path + flow.path)}"


def as_json(hits: list[Hit]) -> str:
    rows = [{"flow": flow.conn, "source": flow.source, "type": flow.type,
             "method": flow.method, "path": flow.path, "rule": f.rule,
             "severity": f.severity, "message": f.message, "seq": f.seq}
            for flow, f in hits]
    return "[" + ",\n ".join(json.dumps(r, ensure_ascii=False) for r in rows) + "]\n"


def as_text(hits: list[Hit], flows: int) -> str:
    """Grouped by rule, worst rules first; each rule lists the flows it hit."""
    by_rule: dict[str, list[Hit]] = {}
    for hit in hits:
        by_rule.setdefault(hit[1].rule, []).append(hit)
    order = sorted(by_rule, key=lambda r: (-RANK[BY_ID[r].severity], r))
    lines = []
    for rule_id in order:
        rule = BY_ID[rule_id]
        group = by_rule[rule_id]
        hit_flows = len({(fl.source, fl.conn) for fl, _ in group})
        lines.append(f"{rule_id} {rule.severity}: {rule.summary} "
                     f"({hit_flows} flow{'s' if hit_flows != 1 else ''})")
        for flow, f in group[:20]:
            at = f" seq {f.seq}" if f.seq is not None else ""
            lines.append(f"    #{flow.conn} {_what(flow)}{at}: {visible(f.message)}")
        if len(group) > 20:
            lines.append(f"    ... and {len(group) - 20} more")
        lines.append(f"    hint: {rule.hint}")
        lines.append(f"    see: {rule.link}")
    hit_flows = len({(fl.source, fl.conn) for fl, _ in hits})
    counts = ", ".join(f"{sum(1 for _, f in hits if f.severity == s)} {s}"
                       for s in reversed(SEVERITIES))
    lines.append(f"{len(hits)} finding{'s' if len(hits) != 1 else ''} in {hit_flows} of "
                 f"{flows} flows ({counts})")
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("capture", type=click.Path(exists=True, dir_okay=False))
@click.option("--min-severity", type=click.Choice(list(SEVERITIES)), default="error",
              show_default=True, help="Report (and fail on) findings at least this severe.")
@click.option("--select", multiple=True, metavar="RULE",
              help="Only these rules (an id or a prefix such as HM; repeatable).")
@click.option("--ignore", multiple=True, metavar="RULE",
              help="Leave out these rules (an id or a prefix; repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def check(capture: str, min_severity: str, select: tuple[str, ...], ignore: tuple[str, ...],
          fmt: str) -> None:
    """Check a capture (or HAR) against the ASGI spec and HTTP semantics.

    Exit 1 when a finding at or above --min-severity remains, 0 otherwise, 2 when the
    file cannot be read. The rules: docs/findings.md.
    """
    from inspector.cli.captures import load_events

    try:
        header, events = load_events(capture)
    except click.ClickException as exc:
        raise Unreadable(exc.message) from None
    analysed = analyse_events(events)
    hits = selected(((flow, a.findings) for flow, a in analysed), min_severity, select,
                    ignore)
    out: Any = as_json(hits) if fmt == "json" else as_text(hits, len(analysed))
    click.echo(out, nl=False)
    if hits:
        sys.exit(1)
