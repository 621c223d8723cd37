"""The same two endpoints in FastAPI, Django and Quart, each wrapped in InspectorMiddleware:
GET /hello answers "hello", POST /echo answers the request body."""

from __future__ import annotations

import os
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves annotations from here
from fastapi.responses import Response

from inspector import InspectorMiddleware


def fastapi_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    app = FastAPI()

    @app.get("/hello", response_class=PlainTextResponse)
    async def hello() -> str:
        return "hello"

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="text/plain")

    return app


def django_app() -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, SECRET_KEY="test-only", ALLOWED_HOSTS=["*"],
                           ROOT_URLCONF=__name__, MIDDLEWARE=[], INSTALLED_APPS=[])
        django.setup()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def _django_views() -> list[Any]:
    from django.http import HttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    def hello(request: Any) -> Any:
        return HttpResponse("hello", content_type="text/plain")

    @csrf_exempt
    def echo(request: Any) -> Any:
        return HttpResponse(request.body, content_type="text/plain")

    return [path("hello", hello), path("echo", echo)]


def __getattr__(name: str) -> Any:   # Django reads urlpatterns from ROOT_URLCONF lazily
    if name == "urlpatterns":
        return _django_views()
    raise AttributeError(name)


def quart_app() -> Any:
    from quart import Quart, request

    app = Quart(__name__)

    @app.get("/hello")
    async def hello() -> Any:
        return "hello", 200, {"content-type": "text/plain"}

    @app.post("/echo")
    async def echo() -> Any:
        return await request.get_data(), 200, {"content-type": "text/plain"}

    return app


def starlette() -> Any:
    from tests.apps import starlette_app
    return starlette_app()


# For servers started in a subprocess (granian): which app comes from the environment.
FACTORIES = {"fastapi": fastapi_app, "django": django_app, "quart": quart_app,
             "starlette": starlette}


def subprocess_app() -> Any:
    return InspectorMiddleware(FACTORIES[os.environ["FW_APP"]](), tap=False,
                               save=os.environ["FW_SAVE"])
