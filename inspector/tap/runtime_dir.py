"""Where tap sockets live, and how a reader finds them.

A private per-user directory (0700, ours, not a symlink) holds one `<pid>-<n>.sock` per
capturing middleware; nobody else can enter it, so nobody else can read the traffic.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import time
from collections.abc import Mapping
from pathlib import Path

RUNTIME_DIR_ENV = "ASGI_INSPECTOR_RUNTIME_DIR"

class RuntimeDirError(RuntimeError):
    """The tap directory is not private to us, so we refuse to put sockets in it."""


def runtime_dir(environ: Mapping[str, str] | None = None, *, uid: int | None = None,
                tmp: Path = Path("/tmp")) -> Path:
    """The private per-user directory holding tap sockets, created (mode 0700) if needed.

    `$ASGI_INSPECTOR_RUNTIME_DIR` if set; else `$XDG_RUNTIME_DIR/asgi-inspector` when that
    directory is ours; else `/tmp/asgi-inspector-<uid>`. Literally /tmp, not $TMPDIR: a
    reader and a publisher started from different shells must agree on the place.
    """
    env = os.environ if environ is None else environ
    uid = os.getuid() if uid is None else uid
    override = env.get(RUNTIME_DIR_ENV)
    if override:
        return ensure_private_dir(Path(override), uid=uid)
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg:
        try:
            st = os.stat(xdg)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == uid:
            return ensure_private_dir(Path(xdg) / "asgi-inspector", uid=uid)
    return ensure_private_dir(tmp / f"asgi-inspector-{uid}", uid=uid)


def ensure_private_dir(path: Path, *, uid: int | None = None) -> Path:
    """Create `path` with mode 0700, or check that the existing one is ours and private.

    In a shared /tmp anyone can create our directory first: a symlink, a directory owned by
    someone else or one that others can enter would let them read or spoof the traffic.
    """
    uid = os.getuid() if uid is None else uid
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise RuntimeDirError(f"cannot create tap directory {path}: {exc}") from exc
    else:
        os.chmod(path, 0o700)  # the umask may have taken bits we need
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise RuntimeDirError(f"tap directory {path} is a symlink; refusing to use it")
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeDirError(f"tap directory {path} exists and is not a directory")
    if st.st_uid != uid:
        raise RuntimeDirError(
            f"tap directory {path} belongs to uid {st.st_uid}, not {uid}; remove it, or set "
            f"{RUNTIME_DIR_ENV} to a directory of yours")
    if st.st_mode & 0o077:
        raise RuntimeDirError(
            f"tap directory {path} has mode {stat.S_IMODE(st.st_mode):04o}: others can reach "
            f"it; run `chmod 700 {path}`")
    return path


def parse_tap_name(path: Path) -> tuple[int, int] | None:
    """(pid, n) of a `<pid>-<n>.sock` tap socket name, or None for any other name."""
    if path.suffix != ".sock":
        return None
    pid, sep, n = path.stem.partition("-")
    if not sep or not pid.isdigit() or not n.isdigit():
        return None
    return int(pid), int(n)


def listening(path: Path) -> bool:
    """Whether something accepts connections on the socket file `path`.

    This, not "is the pid alive", decides staleness: a pid may be reused, or belong to
    another pid namespace (a container sharing /tmp) where it means nothing to us.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except BlockingIOError:
            return True   # listening, its backlog is just full
        except OSError:
            return True   # not ours to judge (EACCES, ...): leave it alone
    return True


def discover_taps(directory: Path | None = None) -> list[Path]:
    """Live tap sockets in `directory` (by pid, then n); stale socket files are removed."""
    directory = runtime_dir() if directory is None else directory
    found: list[tuple[tuple[int, int], Path]] = []
    for path in directory.glob("*.sock"):
        key = parse_tap_name(path)
        if key is None:
            continue
        try:
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                continue
        except FileNotFoundError:
            continue
        if listening(path):
            found.append((key, path))
        elif not _just_bound(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return [path for _, path in sorted(found)]


# A publisher binds its socket, then listens: in between, connections are refused. A
# socket file younger than this is such a publisher starting, not a stale file.
STARTING_SECONDS = 5.0


def _just_bound(path: Path) -> bool:
    try:
        return time.time() - os.lstat(path).st_mtime < STARTING_SECONDS
    except FileNotFoundError:
        return False


