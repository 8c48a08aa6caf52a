"""Switching a shared SQLite file to WAL mode safely when several processes open it at once.

Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked" at once
(without the busy handler) when two processes create or convert the same file at the same moment. The
journal and the shared rate budget are opened by every orch process, so both go through here.
"""

from __future__ import annotations

import sqlite3
import time


def enable_wal(conn: sqlite3.Connection, timeout: float = 5.0) -> str:
    """Put ``conn``'s database in WAL mode, retrying a briefly locked file until ``timeout`` seconds;
    returns the journal mode SQLite reports."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
