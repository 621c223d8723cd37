"""`asgi-inspector run` takes uvicorn's options, as a FastAPI developer types them.

Real processes on a temp app file, real clients (httpx, curl), real signals: --reload
(an edit is served and both processes' flows are shown), --workers, --factory,
--root-path, --env-file, --lifespan, --proxy-headers, --uds, --ssl-*; bad values are one
line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from tests import ROOT
from tests.conftest import free_port, wait_for
from tests.inspector.cli.test_run_command import one_line_error, run_cli

APP = '''
import json, os

VERSION = "v1"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        if os.environ.get("RR_FAIL_LIFESPAN"):
            await send({"type": "lifespan.startup.failed", "message": "lifespan refused"})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await receive()
    body = json.dumps({"version": VERSION, "pid": os.getpid(), "path": scope["path"],
                       "root_path": scope.get("root_path", ""), "env": os.environ.get("RR_VAR"),
                       "client": (scope.get("client") or ["", 0])[0],
                       "scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def create_app():
    global VERSION
    VERSION = "from-factory"
    return app
'''


class Running:
    """`asgi-inspector run ...` in a subprocess, its output collected as it comes."""

    def __init__(self, *args: str, cwd: Path = ROOT) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "inspector.cli.main", "run", *args],
                                     cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(s, lines), daemon=True)
                         for s, lines in ((self.proc.stdout, self.out),
                                          (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self._readers:
            reader.join(5)
        return self.proc.returncode

    def wait(self, predicate: Any, what: str, timeout: float = 20, interval: float = 0.05) -> Any:
        """wait_for, failing with what the process said so far."""
        try:
            return wait_for(predicate, timeout=timeout, what=what, interval=interval)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nstdout:\n" + "\n".join(self.out) + "\nstderr:\n"
                                 + "\n".join(self.err)) from None

    def lines_with(self, *needles: str) -> list[str]:
        return [line for line in list(self.out) if all(n in line for n in needles)]


def get_json(url: str, **options: Any) -> dict[str, Any] | None:
    try:
        response = httpx.get(url, timeout=2, **options)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "rr_main.py").write_text(APP)
    return tmp_path


def test_reload_serves_the_edit_and_shows_both_processes(tmp_path: Path) -> None:
    folder = app_dir(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = Running("rr_main:app", "--app-dir", str(folder), "--reload", "--reload-dir",
                  str(folder), "--port", str(port))
    try:
        first = run.wait(lambda: get_json(url + "/first"), "first answer")
        assert first["version"] == "v1"
        run.wait(lambda: run.lines_with(f"[pid {first['pid']}]", "GET /first 200"), "line 1")
        source = folder / "rr_main.py"
        source.write_text(source.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
        second = run.wait(lambda: (a := get_json(url + "/second")) and a["version"] == "v2"
                          and a, "the reloaded app", timeout=30, interval=0.2)
        assert second["pid"] != first["pid"]
        run.wait(lambda: run.lines_with(f"[pid {second['pid']}]", "GET /second 200"), "line 2")
    finally:
        status = run.stop()
    assert status == 0, "\n".join(run.err)
    # Flows of the old process are still there, beside the new one's.
    assert run.lines_with(f"[pid {first['pid']}]", "GET /first 200"), run.out
    notes = "\n".join(run.err)
    assert f"pid {first['pid']} gone" in notes and f"pid {second['pid']} serving" in notes
    assert "Traceback" not in notes


def test_workers_serve_and_every_process_is_shown(tmp_path: Path) -> None:
    folder = app_dir(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = Running("rr_main:app", "--app-dir", str(folder), "--workers", "2", "--port", str(port))
    try:
        run.wait(lambda: len([e for e in run.err if e.endswith(" serving")]) == 2,
                 "two workers", timeout=30)
        pids = set()
        for n in range(12):
            answer = get_json(f"{url}/n{n}", headers={"connection": "close"})
            assert answer is not None
            pids.add(answer["pid"])
        run.wait(lambda: all(run.lines_with(f"GET /n{n} 200") for n in range(12)), "12 lines")
    finally:
        status = run.stop()
    assert status == 0, "\n".join(run.err)
    for pid in pids:
        assert run.lines_with(f"[pid {pid}]"), run.out
    assert "Traceback" not in "\n".join(run.err)


def test_factory_root_path_env_file_lifespan_off_and_proxy_headers(tmp_path: Path) -> None:
    folder = app_dir(tmp_path)
    env_file = tmp_path / "settings.env"
    env_file.write_text("RR_VAR=from-env-file\nRR_FAIL_LIFESPAN=1\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    common = ("rr_main:create_app", "--app-dir", str(folder), "--factory", "--root-path",
              "/api", "--env-file", str(env_file), "--port", str(port))
    # The env file makes the app refuse its lifespan startup: with lifespan on, no server.
    refused = subprocess.run([sys.executable, "-m", "inspector.cli.main", "run", *common,
                              "--headless", "--lifespan", "on"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "lifespan refused" in refused.stderr
    run = Running(*common, "--lifespan", "off", "--proxy-headers",
                  "--forwarded-allow-ips", "127.0.0.1")
    try:
        answer = run.wait(lambda: get_json(url + "/items", headers={
            "x-forwarded-for": "203.0.113.9"}), "an answer")
        run.wait(lambda: run.lines_with("/items 200"), "its line")
    finally:
        status = run.stop()
    assert status == 0, "\n".join(run.err)
    assert answer["version"] == "from-factory"
    assert answer["root_path"] == "/api"
    # ASGI's path includes root_path: the line shows the path once, as the client sent it.
    assert answer["path"] == "/api/items"
    assert run.lines_with(" GET /api/items 200 ") and not run.lines_with("/api/api")
    assert answer["env"] == "from-env-file"
    assert answer["client"] == "203.0.113.9"


def test_uds_answers_curl_and_is_removed_at_exit(tmp_path: Path) -> None:
    folder = app_dir(tmp_path)
    path = tmp_path / "app.sock"
    run = Running("rr_main:app", "--app-dir", str(folder), "--uds", str(path))

    def curl() -> dict[str, Any] | None:
        done = subprocess.run(["curl", "-s", "--unix-socket", str(path),
                               "http://localhost/over-uds"], capture_output=True, text=True,
                              timeout=10)
        return json.loads(done.stdout) if done.returncode == 0 and done.stdout else None
    try:
        answer = run.wait(curl, "an answer over the socket", interval=0.1)
        run.wait(lambda: run.lines_with("GET /over-uds 200"), "its line")
    finally:
        status = run.stop()
    assert status == 0, "\n".join(run.err)
    assert answer["path"] == "/over-uds"
    assert any(f"unix:{path}" in line for line in run.err)
    assert not path.exists()


def test_ssl_serves_https_and_no_proxy_headers(tmp_path: Path) -> None:
    import ssl

    import trustme

    folder = app_dir(tmp_path)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    port = free_port()
    run = Running("rr_main:app", "--app-dir", str(folder), "--port", str(port),
                  "--ssl-keyfile", str(key_file), "--ssl-certfile", str(cert_file),
                  "--no-proxy-headers")
    try:
        answer = run.wait(lambda: get_json(f"https://127.0.0.1:{port}/secure",
                                           verify=client_context,
                                           headers={"x-forwarded-for": "203.0.113.9"}),
                          "an answer over TLS")
        run.wait(lambda: run.lines_with("GET /secure 200"), "its line")
    finally:
        status = run.stop()
    assert status == 0, "\n".join(run.err)
    assert answer["scheme"] == "https" and answer["client"] == "127.0.0.1"
    assert any(f"https://127.0.0.1:{port}" in line for line in run.err)


def test_bad_uvicorn_option_values_are_one_line(tmp_path: Path) -> None:
    app = "tests.apps:app"
    one_line_error(run_cli("run", app, "--lifespan", "sometimes"), "--lifespan", "sometimes")
    one_line_error(run_cli("run", app, "--workers", "0"), "--workers")
    one_line_error(run_cli("run", app, "--env-file", str(tmp_path / "none.env")), "--env-file")
    one_line_error(run_cli("run", app, "--reload-dir", str(tmp_path / "nope")), "--reload-dir")
    one_line_error(run_cli("run", app, "--ssl-certfile", "README.md", "--ssl-keyfile",
                           "README.md"), "--ssl-certfile", "README.md")
    one_line_error(run_cli("run", app, "--ssl-keyfile", "README.md"), "--ssl-certfile")
    one_line_error(run_cli("run", app, "--uds", str(tmp_path / "no" / "dir.sock")),
                   "cannot listen")
    one_line_error(run_cli("run", app, "--workers", "2", "--save", "cap.jsonl"), "{pid}")
    one_line_error(run_cli("run", app, "--factory", "--headless"), "factory")
    one_line_error(run_cli("run", "no_such_module:app", "--reload"), "no_such_module")
