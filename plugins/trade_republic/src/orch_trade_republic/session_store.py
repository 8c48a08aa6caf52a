"""Where a Trade Republic session survives between runs (``secure_session = true``).

One JSON file per phone number and server, in ``$ORCH_HOME/trade_republic/`` when ``ORCH_HOME`` is set,
else in the user state directory (``~/.local/state/orch/trade_republic/`` on Linux). The file holds the
session cookies, so it is created with mode 0600 in a 0700 directory, written atomically (a temporary
file renamed over the old one), and a file that others may read is refused rather than used. The file name
is a hash: it does not show the phone number.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

FORMAT = 1


def state_dir() -> Path:
    home = os.environ.get("ORCH_HOME", "").strip()
    if home:
        return Path(home).expanduser() / "trade_republic"
    import platformdirs

    return platformdirs.user_state_path("orch", appauthor=False) / "trade_republic"


def session_path(phone: str, api_url: str, directory: Path | None = None) -> Path:
    key = hashlib.sha256(f"{phone.strip()}|{api_url.rstrip('/')}".encode()).hexdigest()[:24]
    return (directory or state_dir()) / f"session-{key}.json"


class UnsafeSessionFile(Exception):
    """The session file is readable or writable by others."""


def load(path: Path) -> dict[str, Any] | None:
    """The saved session, or None when there is none (or it is unreadable). Raises UnsafeSessionFile when
    its permissions let anyone else read it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnsafeSessionFile(f"{path} is accessible to other users (mode {stat.S_IMODE(info.st_mode):o})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("cookies"), dict):
        return None
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, json.dumps({"format": FORMAT, **data}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
