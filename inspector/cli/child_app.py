"""The app a `run --reload` / `run --workers N` child process serves: the user's, captured.

uvicorn's reloader and worker supervisor start fresh processes that import the app from
a string, so the wrapping cannot be done by the parent: each child calls `app()` (uvicorn's
factory mode, `inspector.cli.child_app:app`), which reads what to serve from the environment
the parent set, imports it anew (a reload's new code), and wraps it in InspectorMiddleware.
Each child publishes its own tap; the parent attaches to every one of them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from inspector.capture.middleware import InspectorMiddleware

ENV = "ASGI_INSPECTOR_RUN_APP"
IMPORT_STRING = "inspector.cli.child_app:app"


def spec(app_path: str, app_dir: str, factory: bool, *, name: str, capacity: int,
         max_bytes: int, body_limit: int, save: str | None, publish: str | None = None) -> str:
    """The environment value `app()` reads: what to import and how to capture it."""
    return json.dumps({"app": app_path, "app_dir": os.path.abspath(app_dir),
                       "factory": factory, "name": name, "capacity": capacity,
                       "max_bytes": max_bytes, "body_limit": body_limit, "save": save,
                       "publish": publish})


def app() -> InspectorMiddleware:
    """uvicorn factory: the app named in $ASGI_INSPECTOR_RUN_APP, wrapped in capture."""
    from uvicorn.importer import import_from_string

    wanted: dict[str, Any] = json.loads(os.environ[ENV])
    if wanted["app_dir"] not in sys.path:
        sys.path.insert(0, wanted["app_dir"])
    target = import_from_string(wanted["app"])
    if wanted["factory"]:
        target = target()
    return InspectorMiddleware(target, capacity=wanted["capacity"],
                               max_bytes=wanted["max_bytes"], body_limit=wanted["body_limit"],
                               save=wanted["save"], tap=True, name=wanted["name"],
                               publish=wanted.get("publish"))
