"""The `asgi-inspector` command group and its entry point `main`; the commands that serve
an app (`run`, `proxy`, `demo`) and attach the dashboard to live taps (`tui`).

Every user mistake (bad URL, busy port, unknown module, unreadable file) ends as one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from inspector import __version__
from inspector.cli.captures import export, open_capture, replay
from inspector.cli.check import check
from inspector.cli.launch import (
    CAPTURE_OPTION_NAMES,
    capture_options,
    load_app,
    run_children,
    run_dashboard,
    serve_captured,
)
from inspector.cli.redis_sources import redis_feed
from inspector.cli.run_options import uvicorn_options


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
    from inspector.cli.serve import StartupError, parse_listen
    from inspector.proxy import SERVE_OPTIONS, ProxyApp, parse_upstream

    try:
        target = parse_upstream(upstream)
        host, port = parse_listen(listen, 8080)
        app = ProxyApp(upstream, keep_host=keep_host, forwarded=forwarded,
                       read_timeout=timeout, ca_file=ca_file, insecure=insecure)
    except (ValueError, StartupError) as exc:
        raise click.ClickException(str(exc)) from None
    serve_captured(app, host, port, name=f"proxy {upstream}", own_process=True, **SERVE_OPTIONS,
           banner=f"asgi-inspector: proxying {{url}} -> {target.url}", **capture)


@cli.command()
@click.argument("app_path", metavar="MODULE:APP")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--app-dir", default=".", show_default=True,
              help="Look for MODULE in this directory.")
@click.option("--watch-disconnects", is_flag=True,
              help="Once an HTTP request has run 0.1 s, ask the server on the app's behalf "
                   "whether the client is still there, so a client who leaves is recorded "
                   "even if the app never asks (3-4 µs a request).")
@uvicorn_options
@capture_options
def run(app_path: str, host: str, port: int, app_dir: str, watch_disconnects: bool,
        **options: Any) -> None:
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
    if watch_disconnects:        # read by every InspectorMiddleware, children's included
        from inspector.capture.middleware import WATCH_DISCONNECTS_ENV

        os.environ[WATCH_DISCONNECTS_ENV] = "1"
    banner = f"asgi-inspector: serving {app_path} on {{url}}"
    if run_options.in_children:
        run_children(app_path, host, port, app_dir, run_options, banner, **capture)
        return
    app = load_app(app_path, app_dir, factory=run_options.factory)
    serve_captured(app, host, port, name=app_path, banner=banner, uds=run_options.uds,
           **run_options.server_options(), **capture)



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
    serve_captured(app, host, port, name="demo", companions=companions, log_level="critical",
           own_process=True,
           banner="asgi-inspector demo: serving on {url} with traffic", **capture)


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



for _command in (replay, export, open_capture, check):
    cli.add_command(_command)


if __name__ == "__main__":
    main()
