"""The commands that read a saved capture: `replay`, `export` and `open`.

A capture is a capture file, a HAR file or a Redis stream URL (`load_events`); an
unreadable one, or a bad --filter, ends as one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from inspector.cli.launch import load_app, run_dashboard
from inspector.cli.redis_sources import CaptureSource, load_stream, redis_feed


def load_events(path: str) -> tuple[dict[str, Any], list[Any]]:
    """A capture file, a HAR file or a Redis stream URL -> (header, events); one clear
    line if none of them."""
    from inspector.io.capture_file import CaptureError, read_capture
    from inspector.io.har import HarError
    from inspector.io.har_import import is_har, load_har
    from inspector.tap.redis.url import is_redis_url

    if is_redis_url(path):
        return load_stream(path)
    try:
        if is_har(path):
            try:
                return load_har(path)
            except HarError as exc:
                raise click.ClickException(str(exc)) from None
        capture = read_capture(path)
        return capture.header, capture.events
    except CaptureError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror}") from None


def compile_filter_option(text: str | None) -> Callable[[Any], bool] | None:
    """--filter EXPR -> predicate, or a one-line error pointing at the column."""
    if not text:
        return None
    from inspector.filters.compile import FilterError, compile_filter

    try:
        return compile_filter(text)
    except FilterError as exc:
        raise click.ClickException(f"--filter: {exc}") from None



@click.command()
@click.argument("capture", type=CaptureSource(exists=True, dir_okay=False))
@click.option("--to", "to_url", metavar="URL", help="Replay over the network to this server.")
@click.option("--app", "app_path", metavar="MODULE:APP", help="Replay in-process into this app.")
@click.option("--app-dir", default=".", show_default=True)
@click.option("--filter", "filter_text", metavar="EXPR", help="Only flows matching EXPR.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=1, show_default=True)
@click.option("--pace", type=click.Choice(["original", "fast"]), default="fast",
              show_default=True, help="Keep the recorded timing of chunks and messages, or not.")
@click.option("--ignore-header", multiple=True, metavar="NAME",
              help="Another response header to ignore when comparing (repeatable).")
@click.option("--save", type=click.Path(dir_okay=False, writable=True),
              help="Keep the replayed flows in this capture file.")
@click.option("--strict", is_flag=True,
              help="Exit 1 also when a flow cannot be replayed (its request body was cut "
                   "at capture).")
def replay(capture: str, to_url: str | None, app_path: str | None, app_dir: str,
           filter_text: str | None, concurrency: int, pace: str, ignore_header: tuple[str, ...],
           save: str | None, strict: bool) -> None:
    """Replay a capture (or HAR) and compare: exit 1 when any flow answers differently.

    A flow whose request body was cut at capture is not replayed (it would send a
    different request): it is listed with the reason, and counts as a failure only with
    --strict."""
    import asyncio

    from inspector.flows.fold import fold_events
    from inspector.replay.plan import VOLATILE_HEADERS, compare, exchanges
    from inspector.replay.send import InProcessTarget, NetworkTarget, replay_all

    if (to_url is None) == (app_path is None):
        raise click.UsageError("give exactly one of --to URL or --app MODULE:APP")
    header, events = load_events(capture)
    predicate = compile_filter_option(filter_text)
    folded = fold_events(events)
    if predicate is not None:
        from inspector.findings import analyse_events

        analyse_events(events, folded)     # for the `finding:` and timeline filter terms
    originals = {(f.conn): f for f in folded if f.type in ("http", "websocket")}
    chosen = [e for e in exchanges(events)
              if e.conn in originals and (predicate is None or predicate(originals[e.conn]))]
    if not chosen:
        raise click.ClickException("no flows to replay" + (" match the filter" if predicate else ""))
    try:
        target: Any = (NetworkTarget(to_url) if to_url is not None
                       else InProcessTarget(load_app(app_path or "", app_dir)))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None

    skipped = [e for e in chosen if e.not_replayable]
    chosen = [e for e in chosen if not e.not_replayable]

    async def go() -> list[Any]:
        if not chosen:
            return []
        await target.start()
        try:
            return await replay_all(target, chosen, pace=pace, concurrency=concurrency)
        finally:
            await target.stop()

    try:
        results = asyncio.run(go())
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(f"replay failed: {exc}") from None
    from inspector.cli.headless import target as shown_target
    from inspector.text import visible

    ignore = VOLATILE_HEADERS | {h.lower() for h in ignore_header}
    differ = 0
    for exchange, flow in results:
        original = originals[exchange.conn]
        verdict = compare(original, flow, ignore, seen_by=target.seen_by)
        differ += not verdict.same
        what = "WS" if original.type == "websocket" else visible(original.method)
        click.echo(f"{exchange.label} {what} {shown_target(original)} "
                   f"{original.status} -> {flow.status} {visible(verdict.summary())}")
        if verdict.body_diff:
            for line in verdict.body_diff.splitlines()[:20]:
                click.echo(f"    {visible(line)}")
    for exchange in skipped:
        original = originals[exchange.conn]
        what = "WS" if original.type == "websocket" else visible(original.method)
        click.echo(f"{exchange.label} {what} {shown_target(original)} "
                   f"not replayed: {exchange.not_replayable}")
    summary = f"{len(results)} replayed: {len(results) - differ} same, {differ} differ"
    if skipped:
        summary += f"; {len(skipped)} not replayable"
    click.echo(summary)
    if save:
        from inspector.io.capture_file import CaptureWriter

        with CaptureWriter(save, {"replay_of": capture}) as writer:
            writer.write(target.recorder.events())
    if differ or (strict and skipped):
        sys.exit(1)


@click.command()
@click.argument("capture", type=CaptureSource(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["har", "curl", "jsonl"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write here instead of stdout.")
@click.option("--filter", "filter_text", metavar="EXPR", help="Only flows matching EXPR.")
@click.option("--include-secrets", is_flag=True,
              help="Keep Authorization, Cookie, Set-Cookie, API-key headers as they are.")
@click.option("--secret-header", multiple=True, metavar="NAME",
              help="Another header to mask (repeatable).")
def export(capture: str, fmt: str, output: str | None, filter_text: str | None,
           include_secrets: bool, secret_header: tuple[str, ...]) -> None:
    """Export a capture (or HAR) as HAR 1.2, curl commands or JSON Lines; secrets masked."""
    from inspector.io.exports import export_text

    header, events = load_events(capture)
    predicate = compile_filter_option(filter_text)
    text = export_text(fmt, header, events, predicate=predicate,
                       include_secrets=include_secrets, secret_headers=secret_header)
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise click.ClickException(f"{output}: {exc.strerror}") from None



@click.command(name="open")
@click.argument("path", type=CaptureSource(exists=True, dir_okay=False))
@click.option("--replay-to", metavar="URL", help="Where `r` and `e` send replays.")
def open_capture(path: str, replay_to: str | None) -> None:
    """Open a saved capture (or a HAR file, or a Redis stream) in the dashboard, read-only."""
    from inspector.io.har_import import is_har
    from inspector.tap.feeds import FileFeed
    from inspector.tap.redis.url import is_redis_url

    if is_redis_url(path):
        feed = redis_feed(path, live=False)
        run_dashboard(feed, title=feed.description, replay_to=replay_to)
        return
    if is_har(path):
        import tempfile

        from inspector.io.capture_file import CaptureWriter

        header, events = load_events(path)
        converted = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False)
        converted.close()
        with CaptureWriter(converted.name, {k: v for k, v in header.items()
                                            if k not in ("format", "version")}) as writer:
            writer.write(events)
        feed = FileFeed(converted.name)
        feed.description = f"HAR {os.path.basename(path)}"
    else:
        from inspector.io.capture_file import CaptureError, iter_capture

        try:                       # the header and first line only: a clear one-line error
            next(iter(iter_capture(path)), None)
        except CaptureError as exc:
            raise click.ClickException(str(exc)) from None
        feed = FileFeed(path)
    run_dashboard(feed, title=os.path.basename(path), replay_to=replay_to)
