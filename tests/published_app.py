"""A wrapped app for subprocess servers (uvicorn --workers N): tap on, optional save file
from $PUBLISHED_SAVE ("{pid}" in it is replaced by the middleware: one file per worker)."""

from __future__ import annotations

import os

from inspector import InspectorMiddleware
from tests.apps import starlette_app

_save = os.environ.get("PUBLISHED_SAVE")
app = InspectorMiddleware(starlette_app(), save=_save)
