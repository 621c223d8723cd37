"""uvicorn's options as `run` takes them: same names, defaults and meanings.

`uvicorn_options` adds them to a click command (read from uvicorn's own `main.py`);
`RunOptions` checks them before anything starts (an unreadable TLS key is one line, not
a traceback from inside the server) and hands each part to where it belongs: the server
options to `uvicorn.Config`, --reload / --workers to uvicorn's supervisor.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from inspector.cli.children import Supervision


def uvicorn_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """uvicorn's options that `run` takes, with uvicorn's names, defaults and meanings."""
    options = [
        click.option("--reload", is_flag=True, help="Enable auto-reload (uvicorn's)."),
        click.option("--reload-dir", "reload_dirs", multiple=True,
                     type=click.Path(exists=True, file_okay=False),
                     help="Watch this directory instead of the current one (repeatable)."),
        click.option("--reload-include", "reload_includes", multiple=True,
                     help="Glob of files to watch as well as '*.py' (repeatable)."),
        click.option("--reload-exclude", "reload_excludes", multiple=True,
                     help="Glob of files not to watch (repeatable)."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Number of worker processes. Defaults to $WEB_CONCURRENCY, or 1. "
                          "Not valid with --reload."),
        click.option("--factory", is_flag=True,
                     help="Treat APP as an application factory, a () -> ASGI app callable."),
        click.option("--root-path", default="",
                     help="The ASGI 'root_path' for an app mounted below a URL path."),
        click.option("--env-file", type=click.Path(exists=True, dir_okay=False),
                     help="Environment configuration file (loaded before the app)."),
        click.option("--lifespan", type=click.Choice(["auto", "on", "off"]), default="auto",
                     show_default=True, help="Lifespan implementation."),
        click.option("--proxy-headers/--no-proxy-headers", default=True, show_default=True,
                     help="X-Forwarded-Proto and X-Forwarded-For set the scheme and client "
                          "address (from --forwarded-allow-ips only)."),
        click.option("--forwarded-allow-ips",
                     help="Comma-separated IPs, networks or literals to trust with proxy "
                          "headers; default $FORWARDED_ALLOW_IPS or 127.0.0.1,::1; '*' "
                          "trusts all."),
        click.option("--uds", help="Bind to this Unix domain socket (instead of --host/--port)."),
        click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False),
                     help="TLS key file."),
        click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False),
                     help="TLS certificate file."),
        click.option("--ssl-keyfile-password", help="Password of the TLS key file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class RunOptionsError(Exception):
    """An option value that cannot work; the message is the one line to show."""


@dataclass
class RunOptions:
    """The uvicorn options of one `run`, as given on the command line."""

    reload: bool = False
    reload_dirs: list[str] = field(default_factory=list)
    reload_includes: list[str] = field(default_factory=list)
    reload_excludes: list[str] = field(default_factory=list)
    workers: int | None = None
    factory: bool = False
    root_path: str = ""
    env_file: str | None = None
    lifespan: str = "auto"
    proxy_headers: bool = True
    forwarded_allow_ips: str | None = None
    uds: str | None = None
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile_password: str | None = None

    @classmethod
    def from_cli(cls, **values: Any) -> RunOptions:
        fields: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v
                                  for k, v in values.items()}
        return cls(**fields)

    def prepare(self) -> None:
        """Load --env-file (as uvicorn does: set variables win) and check the rest."""
        if self.env_file:
            from dotenv import load_dotenv

            load_dotenv(dotenv_path=self.env_file)
        if self.workers is None:
            concurrency = os.environ.get("WEB_CONCURRENCY", "1")
            if not concurrency.strip().isdigit() or int(concurrency) < 1:
                raise RunOptionsError(f"$WEB_CONCURRENCY={concurrency!r}: expected a number "
                                      "of worker processes")
            self.workers = int(concurrency)
        if self.ssl_keyfile and not self.ssl_certfile:
            raise RunOptionsError("--ssl-keyfile needs --ssl-certfile")
        if self.ssl_certfile:
            import ssl

            from uvicorn.config import SSL_PROTOCOL_VERSION, create_ssl_context

            try:
                create_ssl_context(self.ssl_certfile, self.ssl_keyfile,
                                   self.ssl_keyfile_password, SSL_PROTOCOL_VERSION,
                                   ssl.CERT_NONE, None, "TLSv1")
            except (OSError, ssl.SSLError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
                raise RunOptionsError(f"--ssl-certfile {self.ssl_certfile} / --ssl-keyfile "
                                      f"{self.ssl_keyfile or '(in the certfile)'}: cannot be "
                                      f"used: {reason}") from None

    @property
    def in_children(self) -> bool:
        """uvicorn runs the app in child processes (its reloader or worker supervisor)."""
        return self.reload or (self.workers or 1) > 1

    def server_options(self) -> dict[str, Any]:
        """What goes to `uvicorn.Config`."""
        options: dict[str, Any] = {"root_path": self.root_path, "lifespan": self.lifespan,
                                   "proxy_headers": self.proxy_headers,
                                   "forwarded_allow_ips": self.forwarded_allow_ips}
        if self.ssl_certfile:
            options.update(ssl_keyfile=self.ssl_keyfile, ssl_certfile=self.ssl_certfile,
                           ssl_keyfile_password=self.ssl_keyfile_password)
        return options

    def supervision(self, log_level: str) -> Supervision:
        from inspector.cli.children import Supervision

        return Supervision(reload=self.reload, reload_dirs=self.reload_dirs,
                           reload_includes=self.reload_includes,
                           reload_excludes=self.reload_excludes, workers=self.workers or 1,
                           log_level=log_level, uvicorn=self.server_options())

    def url(self, host: str, port: int) -> str:
        if self.uds:
            return f"unix:{self.uds}"
        scheme = "https" if self.ssl_certfile else "http"
        return f"{scheme}://{host}:{port}"
