"""`run --reload` with the dashboard: the dashboard stays in this process and follows the
children's taps; an edit shows as a new process, its flows beside the old one's; `r`
replays to the server and the replay arrives through a child's tap, linked."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx

from inspector.cli.child_app import spec
from inspector.cli.children import Children, Supervision
from inspector.cli.serve import bind
from inspector.flows.model import Flow
from tests.inspector.cli.test_run_uvicorn_options import APP
from tests.tui.conftest import SIZE, until
from tui.app import InspectorApp


def _flows(app: InspectorApp) -> list[Flow]:
    return app.model.store.rows(0, len(app.model.store))


def _get(url: str) -> dict[str, Any] | None:
    try:
        answer = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


async def _answer(url: str, version: str, timeout: float = 30.0) -> dict[str, Any]:
    for _ in range(int(timeout / 0.2)):
        answer = await asyncio.to_thread(_get, url)
        if answer is not None and answer["version"] == version:
            return answer
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never answered {version}")


def test_dashboard_follows_the_reloaded_children(tmp_path: Path) -> None:
    source = tmp_path / "rr_main.py"
    source.write_text(APP)
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    children = Children(sock, spec("rr_main:app", str(tmp_path), False, name="rr_main:app",
                                   capacity=10_000, max_bytes=1 << 24, body_limit=65536,
                                   save=None),
                        Supervision(reload=True, reload_dirs=[str(tmp_path)],
                                    log_level="critical"))
    seen: dict[str, Any] = {}

    def show(feed: Any) -> None:
        async def drive() -> None:
            app = InspectorApp(feed, clock="relative", gc_freeze=False, replay_to=url,
                               replay_captured=True)
            async with app.run_test(size=SIZE) as pilot:
                first = await _answer(url + "/first", "v1")
                old = await until(pilot, lambda: next(
                    (f for f in _flows(app) if f.path == "/first"), None), timeout=15)
                source.write_text(APP.replace('VERSION = "v1"', 'VERSION = "v2"'))
                second = await _answer(url + "/second", "v2")
                # Polls answered by the old process before the reload are /second too.
                new = await until(pilot, lambda: next(
                    (f for f in _flows(app) if f.path == "/second"
                     and f.source == f"pid {second['pid']}"), None), timeout=15)
                app.rows.select_flow(new)
                await pilot.pause()
                await pilot.press("r")
                replay = await until(pilot, lambda: next(
                    (f for f in _flows(app) if f.replay_of and f.status), None), timeout=15)
                assert f"replay of {new.source}#{new.conn}: same" in await until(
                    pilot, lambda: [str(n.message) for n in app._notifications
                                    if str(n.message).startswith("replay of")])
                seen.update(first=first, second=second, old=old.source, new=new.source,
                            replay=(replay.source, replay.path),
                            paths=[f.path for f in _flows(app)])
        asyncio.run(drive())

    status = children.run_dashboard(show, str(tmp_path / "supervisor.log"))
    assert status in (0, -signal.SIGTERM)
    assert seen["old"] == f"pid {seen['first']['pid']}"
    assert seen["new"] == f"pid {seen['second']['pid']}" != seen["old"]
    assert "/first" in seen["paths"]               # the old process's flow stays shown
    assert seen["replay"] == (seen["new"], "/second")
    assert not Path(children.tap_dir).exists()
