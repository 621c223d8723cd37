"""The proxy and the demo tune the garbage collector of their own process; `run` does not."""

from __future__ import annotations

import subprocess
import sys

from tests import ROOT

# In a child process: pytest's own objects must not be frozen.
PROBE = """
import gc, sys
before = gc.get_freeze_count()   # not 0 on every Python (3.12 freezes some at start-up)
from inspector.cli.serve import CaptureOptions, CaptureServer
async def app(scope, receive, send):
    pass
server = CaptureServer(app, "127.0.0.1", 0, CaptureOptions(tap=False),
                       own_process=sys.argv[1] == "own")
server.start_background()
import time
deadline = time.monotonic() + 5
while gc.get_freeze_count() == before and time.monotonic() < deadline and sys.argv[1] == "own":
    time.sleep(0.01)
print(gc.get_freeze_count() > before, gc.get_threshold()[0])
server.stop()
"""


def probe(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()


def test_own_process_freezes_startup_objects_and_widens_the_young_generation() -> None:
    assert probe("own") == "True 10000"


def test_the_users_process_is_left_as_it_is() -> None:
    assert probe("user") == f"False {__import__('gc').get_threshold()[0]}"
