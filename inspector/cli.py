"""The `asgi-inspector` command: parse arguments, wire parts together, no logic.

Every user mistake (bad URL, busy port, unknown module, unreadable file) ends as one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import click

from inspector import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asgi-inspector")
def main() -> None:
    """See every ASGI scope, receive() and send() of your app, live or saved."""


if __name__ == "__main__":
    main()
