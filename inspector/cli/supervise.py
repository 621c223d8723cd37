"""`python -m inspector.cli.supervise`: uvicorn's reloader or worker supervisor, for `run`.

The parent (`inspector.cli.children`) keeps the terminal: the dashboard or the headless lines.
This process runs what `uvicorn --reload` / `uvicorn --workers N` run, on the listening
socket the parent bound and passed down (so a busy port was already one clear error),
serving `inspector.cli.child_app:app` in factory mode so that every child wraps the user's app
in capture itself. It ends with its parent: a supervisor left behind would hold the port.
"""

from __future__ import annotations

import inspect
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

ENV = "ASGI_INSPECTOR_SUPERVISE"


def _follow_parent(parent: int) -> None:
    """Stop (as on SIGTERM) once the parent is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    import uvicorn
    from uvicorn.supervisors import ChangeReload, Multiprocess

    from inspector.cli.child_app import IMPORT_STRING

    wanted: dict[str, Any] = json.loads(os.environ[ENV])
    sock = socket.socket(fileno=wanted["fd"])       # family and type read from the fd
    threading.Thread(target=_follow_parent, args=(wanted["parent"],), daemon=True).start()
    config = uvicorn.Config(IMPORT_STRING, factory=True, reload=wanted["reload"],
                            reload_dirs=wanted["reload_dirs"] or None,
                            reload_includes=wanted["reload_includes"] or None,
                            reload_excludes=wanted["reload_excludes"] or None,
                            workers=wanted["workers"], log_level=wanted["log_level"],
                            access_log=False, ws="websockets-sansio",
                            timeout_graceful_shutdown=3, **wanted["uvicorn"])
    server = uvicorn.Server(config)
    try:
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=[sock]).run()
        elif "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.36
            Multiprocess(config, target=server.run, sockets=[sock]).run()  # type: ignore[call-arg]
        else:
            Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        # Before uvicorn's supervisor took over the signals: children it had started
        # would keep this process waiting for them at exit.
        for child in multiprocessing.active_children():
            child.terminate()
    finally:
        sock.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
