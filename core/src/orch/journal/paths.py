"""Where the order journal lives."""

from __future__ import annotations

import os
from pathlib import Path

from orch.config_model import JournalSettings

FILE_NAME = "journal.sqlite"


def default_journal_path() -> Path:
    """``$ORCH_HOME/journal.sqlite`` when ``ORCH_HOME`` is set, else ``journal.sqlite`` in the user state
    directory (``~/.local/state/orch`` on Linux). State, not cache: losing it loses the proof of what was
    sent."""
    home = os.environ.get("ORCH_HOME", "").strip()
    if home:
        return Path(home).expanduser() / FILE_NAME
    import platformdirs

    return platformdirs.user_state_path("orch", appauthor=False) / FILE_NAME


def journal_path(settings: JournalSettings | None = None) -> Path:
    """The configured ``journal.path`` if any, else :func:`default_journal_path`."""
    if settings is not None and settings.path:
        return Path(settings.path).expanduser()
    return default_journal_path()
