"""Serving an app under capture for the `run`, `proxy` and `demo` commands.

The options they share (`capture_options`), importing MODULE:APP (`load_app`), and
starting uvicorn with the middleware, in this process or in uvicorn's children, then
showing the dashboard or one line per flow. Every user mistake ends as a
`click.ClickException`: one line on stderr, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from inspector.cli.redis_sources import publish_summary, redis_target

MiB = 1024 * 1024


def parse_size(value: str) -> int:
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


def serve_captured(app: Any, host: str, port: int, save: str | None, capacity: int, max_bytes: str,
           body_limit: str, headless: bool, no_tap: bool, name: str, banner: str,
           companions: tuple[Callable[[], Any], ...] = (), log_level: str = "warning",
           publish: str | None = None, uds: str | None = None, **uvicorn_options: Any) -> None:
    from inspector.cli.serve import CaptureOptions, CaptureServer, StartupError

    publish = publish or os.environ.get("ASGI_INSPECTOR_PUBLISH") or None
    if publish:
        redis_target(publish, need_client=True)      # a bad URL: one line, before binding
    options = CaptureOptions(save=save, capacity=capacity, max_bytes=parse_size(max_bytes),
                             body_limit=parse_size(body_limit), tap=not no_tap, publish=publish)
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
                local = replay_url(server.url, host, server.port)
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


def replay_url(url: str, host: str, port: int) -> str | None:
    """Where the dashboard's replays go: the server itself, over plain HTTP (the replay
    client speaks neither TLS nor Unix sockets: then no target)."""
    if not url.startswith("http://"):
        return None
    return f"http://127.0.0.1:{port}" if host in ("0.0.0.0", "::", "") else url



def run_children(app_path: str, host: str, port: int, app_dir: str, run_options: Any,
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
                    max_bytes=parse_size(max_bytes), body_limit=parse_size(body_limit), save=save,
                    publish=publish)
    show = None
    if dashboard:
        def show(feed: Any, url: str, replay_to: str | None) -> None:
            run_dashboard(feed, title=banner.format(url=url).split(": ", 1)[-1],
                          replay_to=replay_to, replay_captured=True)
    try:
        run_in_children(app_spec, host, port, run_options, banner, show,
                        replay_url=replay_url)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None



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
