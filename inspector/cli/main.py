"""The `asgi-inspector` command: parse arguments, wire parts together, no logic.

Every user mistake (bad URL, busy port, unknown module, unreadable file) ends as one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from inspector import __version__
from inspector.cli.redis_sources import (CaptureSource, load_stream, publish_summary, redis_feed,
                                 redis_target)
from inspector.cli.run_options import uvicorn_options

MiB = 1024 * 1024


def _size(value: str) -> int:
    """"64MiB", "512k", "1000" -> bytes."""
    text = value.strip().lower().replace("ib", "").replace("b", "")
    factor = 1
    for suffix, mult in (("k", 1024), ("m", MiB), ("g", 1024 * MiB)):
        if text.endswith(suffix):
            text, factor = text[:-1], mult
            break
    try:
        number = float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size (try 64MiB, 512k, 1000)") from None
    if number <= 0:
        raise click.BadParameter(f"{value!r}: a size must be positive")
    return int(number * factor)


def capture_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options `run` and `proxy` share."""
    options = [
        click.option("--save", type=click.Path(dir_okay=False, writable=True),
                     help="Stream the capture to this JSON Lines file."),
        click.option("--capacity", type=click.IntRange(min=1), default=200_000,
                     show_default=True, help="Events the ring buffer holds at most."),
        click.option("--max-bytes", default="64MiB", show_default=True,
                     help="Bytes the ring buffer holds at most."),
        click.option("--body-limit", default="64KiB", show_default=True,
                     help="Cut recorded bodies/messages above this size."),
        click.option("--headless", is_flag=True,
                     help="No dashboard: one line per finished flow on stdout "
                          "(the default without a terminal)."),
        click.option("--no-tap", is_flag=True,
                     help="Do not publish live events for `asgi-inspector tui`."),
        click.option("--publish", metavar="URL", default=None,
                     help="Also send events to a Redis stream: redis://host:6379/0"
                          "?stream=NAME (default: $ASGI_INSPECTOR_PUBLISH)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


CAPTURE_OPTION_NAMES = ("save", "capacity", "max_bytes", "body_limit", "headless", "no_tap",
                        "publish")


def run_dashboard(feed: Any, **options: Any) -> None:
    """Open the dashboard (the `tui` package) on a feed.

    The one place the core reaches the UI, and only when a dashboard is asked for: the
    `inspector` package itself never imports Textual (tests/test_layers.py checks it).
    """
    replay_to = options.get("replay_to")
    if replay_to:
        from inspector.proxy.upstream import shown_url
        from inspector.replay.send import NetworkTarget

        try:
            NetworkTarget(replay_to)
        except ValueError:
            raise click.ClickException(f"--replay-to {shown_url(replay_to)!r}: expected an "
                                       "http://host:port URL") from None
    dashboard = importlib.import_module("tui.app")
    dashboard.run_dashboard(feed, **options)


def _serve(app: Any, host: str, port: int, save: str | None, capacity: int, max_bytes: str,
           body_limit: str, headless: bool, no_tap: bool, name: str, banner: str,
           companions: tuple[Callable[[], Any], ...] = (), log_level: str = "warning",
           publish: str | None = None, uds: str | None = None, **uvicorn_options: Any) -> None:
    from inspector.cli.serve import CaptureOptions, CaptureServer, StartupError

    publish = publish or os.environ.get("ASGI_INSPECTOR_PUBLISH") or None
    if publish:
        redis_target(publish, need_client=True)      # a bad URL: one line, before binding
    options = CaptureOptions(save=save, capacity=capacity, max_bytes=_size(max_bytes),
                             body_limit=_size(body_limit), tap=not no_tap, publish=publish)
    dashboard = not headless and sys.stdin.isatty() and sys.stdout.isatty()
    try:
        server = CaptureServer(app, host, port, options, name=name, companions=companions,
                               # The dashboard owns the terminal: no uvicorn logs on it.
                               log_level="critical" if dashboard else log_level,
                               uds=uds, **uvicorn_options)
        if not dashboard:
            click.echo(banner.format(url=server.url), err=True)
            server.run_foreground(headless_out=sys.stdout)
        else:
            from inspector.tap.feeds import LocalFeed

            server.start_background()
            try:
                local = _replay_url(server.url, host, server.port)
                run_dashboard(LocalFeed(server.middleware, name=name),
                              title=banner.format(url=server.url).split(": ", 1)[-1],
                              replay_to=local, replay_captured=True)
            finally:
                server.stop()
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    errors = server.middleware.recorder.errors
    if errors:
        click.echo(f"asgi-inspector: {errors} capture errors (the app was unaffected)", err=True)
    publish_summary(server.middleware)


def _replay_url(url: str, host: str, port: int) -> str | None:
    """Where the dashboard's replays go: the server itself, over plain HTTP (the replay
    client speaks neither TLS nor Unix sockets: then no target)."""
    if not url.startswith("http://"):
        return None
    return f"http://127.0.0.1:{port}" if host in ("0.0.0.0", "::", "") else url


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asgi-inspector")
def cli() -> None:
    """See every ASGI scope, receive() and send() of your app, live or saved."""


def main(args: list[str] | None = None) -> None:
    """Entry point: click, with every error reduced to one line on stderr."""
    try:
        cli.main(args=args, prog_name="asgi-inspector", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.UsageError as exc:
        hint = f" (see: asgi-inspector {exc.ctx.command_path.split(' ', 1)[1]} --help)" \
            if exc.ctx is not None and " " in exc.ctx.command_path else ""
        click.echo(f"asgi-inspector: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"asgi-inspector: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)


@cli.command()
@click.argument("upstream")
@click.option("--listen", default="127.0.0.1:8080", show_default=True,
              help="Where the proxy listens (HOST:PORT).")
@click.option("--keep-host", is_flag=True, help="Pass the client's Host header upstream.")
@click.option("--forwarded", is_flag=True, help="Add X-Forwarded-For/-Proto/-Host.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds to wait for the upstream's response (then 504).")
@click.option("--ca-file", metavar="PATH",
              help="https upstream: trust the CAs in this PEM file, not the system's.")
@click.option("--insecure", is_flag=True,
              help="https upstream: do not verify its certificate.")
@capture_options
def proxy(upstream: str, listen: str, keep_host: bool, forwarded: bool, timeout: float,
          ca_file: str | None, insecure: bool, **capture: Any) -> None:
    """Reverse-proxy UPSTREAM_URL (http://host:port or https://host:port) and capture
    what passes."""
    from inspector.proxy import SERVE_OPTIONS, ProxyApp, parse_upstream
    from inspector.cli.serve import StartupError, parse_listen

    try:
        target = parse_upstream(upstream)
        host, port = parse_listen(listen, 8080)
        app = ProxyApp(upstream, keep_host=keep_host, forwarded=forwarded,
                       read_timeout=timeout, ca_file=ca_file, insecure=insecure)
    except (ValueError, StartupError) as exc:
        raise click.ClickException(str(exc)) from None
    _serve(app, host, port, name=f"proxy {upstream}", own_process=True, **SERVE_OPTIONS,
           banner=f"asgi-inspector: proxying {{url}} -> {target.url}", **capture)


@cli.command()
@click.argument("app_path", metavar="MODULE:APP")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--app-dir", default=".", show_default=True,
              help="Look for MODULE in this directory.")
@uvicorn_options
@capture_options
def run(app_path: str, host: str, port: int, app_dir: str, **options: Any) -> None:
    """Serve MODULE:APP under uvicorn with capture on (no code change).

    Takes uvicorn's own options with their meanings (--reload, --workers, --factory,
    --root-path, --env-file, --lifespan, --proxy-headers, --uds, --ssl-*). With --reload or
    --workers the app runs in child processes, each captured; this process shows them all.
    """
    from inspector.cli.run_options import RunOptions, RunOptionsError

    capture = {k: options.pop(k) for k in list(options) if k in CAPTURE_OPTION_NAMES}
    try:
        run_options = RunOptions.from_cli(**options)
        run_options.prepare()          # --env-file, --ssl-* checked before anything starts
    except RunOptionsError as exc:
        raise click.ClickException(str(exc)) from None
    banner = f"asgi-inspector: serving {app_path} on {{url}}"
    if run_options.in_children:
        _run_children(app_path, host, port, app_dir, run_options, banner, **capture)
        return
    app = load_app(app_path, app_dir, factory=run_options.factory)
    _serve(app, host, port, name=app_path, banner=banner, uds=run_options.uds,
           **run_options.server_options(), **capture)


def _run_children(app_path: str, host: str, port: int, app_dir: str, run_options: Any,
                  banner: str, save: str | None, capacity: int, max_bytes: str,
                  body_limit: str, headless: bool, no_tap: bool,
                  publish: str | None = None) -> None:
    """--reload / --workers: uvicorn's supervisor runs the app in child processes, each
    captured and tapped (the taps are private to this run: --no-tap changes nothing)."""
    from inspector.cli.child_app import spec
    from inspector.cli.children import run_in_children
    from inspector.cli.serve import StartupError

    if save and "{pid}" not in save:
        raise click.ClickException(
            "--save with --reload or --workers: every process writes its own file; put "
            "{pid} in the name (e.g. capture-{pid}.jsonl)")
    publish = publish or os.environ.get("ASGI_INSPECTOR_PUBLISH") or None
    if publish:
        redis_target(publish, need_client=True)      # a bad URL: one line, before binding
    load_app(app_path, app_dir)       # a typo is one line now, not a crash in every child
    dashboard = not headless and sys.stdin.isatty() and sys.stdout.isatty()
    app_spec = spec(app_path, app_dir, run_options.factory, name=app_path, capacity=capacity,
                    max_bytes=_size(max_bytes), body_limit=_size(body_limit), save=save,
                    publish=publish)
    show = None
    if dashboard:
        def show(feed: Any, url: str, replay_to: str | None) -> None:
            run_dashboard(feed, title=banner.format(url=url).split(": ", 1)[-1],
                          replay_to=replay_to, replay_captured=True)
    try:
        run_in_children(app_spec, host, port, run_options, banner, show,
                        replay_url=_replay_url)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--no-traffic", is_flag=True, help="Serve the demo app without generating traffic.")
@capture_options
def demo(host: str, port: int, no_traffic: bool, **capture: Any) -> None:
    """Serve a demo app with built-in traffic, captured: the product in 10 seconds."""
    from inspector.demo.app import app
    from inspector.demo.traffic import generate

    companions = () if no_traffic else (lambda: generate(host, port),)
    # The demo's /api/discount raises on purpose: its tracebacks are in the flows, not stderr.
    _serve(app, host, port, name="demo", companions=companions, log_level="critical",
           own_process=True,
           banner="asgi-inspector demo: serving on {url} with traffic", **capture)


def load_events(path: str) -> tuple[dict[str, Any], list[Any]]:
    """A capture file, a HAR file or a Redis stream URL -> (header, events); one clear
    line if none of them."""
    from inspector.io.capture_file import CaptureError, read_capture
    from inspector.tap.redis.url import is_redis_url

    if is_redis_url(path):
        return load_stream(path)

    try:
        from inspector.io.har import HarError
        from inspector.io.har_import import is_har, load_har
    except ImportError:            # pragma: no cover - HAR support ships with the package
        is_har = None
    try:
        if is_har is not None and is_har(path):
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


@cli.command()
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


@cli.command()
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


@cli.command()
@click.argument("source", required=False, metavar="[REDIS_URL]")
@click.option("--connect", "sockets", multiple=True, type=click.Path(exists=True),
              help="Attach to this tap socket only (repeatable); default: every one found.")
@click.option("--replay-to", metavar="URL", help="Where `r` and `e` send replays.")
def tui(source: str | None, sockets: tuple[str, ...], replay_to: str | None) -> None:
    """Attach the dashboard to every running InspectorMiddleware of yours (all workers),
    or to a Redis stream that processes on any host publish to (--publish)."""
    from inspector.tap.feeds import TapFeed

    if source is not None:
        feed = redis_feed(source, live=True)
        run_dashboard(feed, title=f"attached to {feed.description}", replay_to=replay_to)
        return

    run_dashboard(TapFeed(list(sockets) or None), title="attached to live taps",
                  replay_to=replay_to)


@cli.command(name="open")
@click.argument("path", type=CaptureSource(exists=True, dir_okay=False))
@click.option("--replay-to", metavar="URL", help="Where `r` and `e` send replays.")
def open_capture(path: str, replay_to: str | None) -> None:
    """Open a saved capture (or a HAR file, or a Redis stream) in the dashboard, read-only."""
    from inspector.tap.feeds import FileFeed

    from inspector.io.har_import import is_har
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


def load_app(app_path: str, app_dir: str = ".", factory: bool = False) -> Any:
    """Import MODULE:APP (uvicorn's syntax), or fail with one line that says why.

    factory: APP is a callable returning the app (uvicorn's --factory); it is called."""
    from uvicorn.importer import ImportFromStringError, import_from_string

    if ":" not in app_path:
        raise click.ClickException(f"{app_path!r}: expected MODULE:APP, e.g. main:app")
    sys.path.insert(0, os.path.abspath(app_dir))
    try:
        app = import_from_string(app_path)
    except ImportFromStringError as exc:
        raise click.ClickException(str(exc).strip().splitlines()[0]) from None
    except Exception as exc:
        raise click.ClickException(
            f"importing {app_path!r} failed: {type(exc).__name__}: {exc}") from None
    if not factory:
        return app
    try:
        return app()
    except Exception as exc:
        raise click.ClickException(
            f"the app factory {app_path!r} failed: {type(exc).__name__}: {exc}") from None


from inspector.cli.check import check as _check  # noqa: E402 (needs `cli` defined)
cli.add_command(_check)


if __name__ == "__main__":
    main()
