"""Entry points: the `asgi-inspector` command, serving under uvicorn, the headless printer."""
