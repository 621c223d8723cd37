"""Make the README screenshots from real traffic: `python screenshots/make_screenshots.py`.

Serves the bundled demo app under uvicorn with capture on, lets its traffic generator run
for a few seconds (real sockets, real HTTP and WebSocket), saves the capture, then drives
the dashboard over it with Pilot at 140x40 and saves SVG screenshots (and PNG when
`rsvg-convert` is installed: `apt-get install librsvg2-bin`).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from inspector.cli.serve import CaptureOptions, CaptureServer  # noqa: E402
from inspector.demo.app import app as demo_app  # noqa: E402
from inspector.demo.traffic import generate  # noqa: E402
from inspector.io.capture_file import CaptureWriter  # noqa: E402
from inspector.tap.feeds import FileFeed  # noqa: E402
from tui.app import InspectorApp  # noqa: E402

SIZE = (140, 40)


def record(seconds: float, path: Path) -> None:
    """Real demo traffic for `seconds`, saved as a capture file."""
    holder: dict[str, CaptureServer] = {}

    async def traffic() -> None:
        server = holder["server"]
        await generate(server.host, server.port, clients=3)

    server = CaptureServer(demo_app, "127.0.0.1", 0, CaptureOptions(tap=False), name="demo",
                           companions=(traffic,), log_level="critical")
    holder["server"] = server
    server.start_background()
    time.sleep(seconds)
    server.stop()
    with CaptureWriter(path, {"started": server.middleware.recorder.started_wall,
                              "name": "demo"}) as writer:
        writer.write(server.middleware.events())


async def shoot(capture: Path) -> list[Path]:
    app = InspectorApp(FileFeed(capture), title="asgi-inspector demo", clock="wall")
    made: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:
        while not app.idle or app._unshown:
            await pilot.pause(0.05)
        store = app.model.store

        def select(predicate) -> None:  # type: ignore[no-untyped-def]
            for i in range(len(store)):
                if predicate(store.row(i)):
                    app.rows.move_to(i)
                    return
            raise SystemExit("no such flow in the demo capture")

        async def save(name: str) -> None:
            await pilot.pause(0.3)
            path = HERE / f"{name}.svg"
            app.save_screenshot(str(path))
            made.append(path)

        select(lambda f: f.path == "/api/orders" and f.status == 201)
        await save("flow-list")
        select(lambda f: f.type == "websocket" and len(f.messages) >= 6)
        await pilot.press("5")                   # Messages tab
        await save("websocket-session")
        select(lambda f: f.path == "/events" and f.state == "complete")
        await pilot.press("4")                   # Events tab: the ASGI event lane
        await save("event-lane")
        select(lambda f: f.path == "/reports/slow")
        await pilot.press("t")
        await save("timeline")
    return made


def main() -> None:
    capture = HERE / "demo-capture.jsonl"
    record(8.0, capture)
    made = asyncio.run(shoot(capture))
    capture.unlink()
    if shutil.which("rsvg-convert"):
        for svg in made:
            subprocess.run(["rsvg-convert", "-o", str(svg.with_suffix(".png")), str(svg)],
                           check=True)
    print("\n".join(str(p.relative_to(HERE.parent)) for p in made))


if __name__ == "__main__":
    main()
