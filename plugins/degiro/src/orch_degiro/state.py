"""What a DEGIRO login leaves for the next orch process: the web session and the last one-time-code step.

Every orch command is its own process. Logging in for each one would send DEGIRO a login (and the user a
login-alert e-mail) per command and, with 2FA, fail outright for a second command within the same 30 s
step, since a one-time code cannot be used twice. So the session id (valid until 30 min idle) and the TOTP
step last used are kept in ``degiro-sessions.json`` beside the journal (``$ORCH_HOME`` or the user state
directory), readable by the owner only, keyed by a hash of base URL and username (no name in clear). The
session id is a credential: it is only read back into a :class:`~orch.secret.Secret`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "degiro-sessions.json"


def state_file() -> Path:
    from orch.journal.paths import default_journal_path

    return default_journal_path().with_name(FILE_NAME)


def account_key(base_url: str, username: str) -> str:
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{username.lower()}".encode()).hexdigest()[:32]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load(key: str, path: Path | None = None) -> dict[str, Any]:
    entry = _read(path or state_file()).get(key)
    return entry if isinstance(entry, dict) else {}


def save(key: str, path: Path | None = None, **values: Any) -> None:
    """Merge ``values`` into the entry for ``key`` (None removes a value). Best effort: a state directory
    that cannot be written only costs a login next time."""
    path = path or state_file()
    with contextlib.suppress(OSError):
        data = _read(path)
        entry = dict(data.get(key) or {})
        for name, value in values.items():
            if value is None:
                entry.pop(name, None)
            else:
                entry[name] = value
        data[key] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(temporary, path)
