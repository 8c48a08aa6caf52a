"""A budget shared by every orch process on the machine: one SQLite file.

Limiters that do not know about each other are how accounts get 418 bans: two ``orch`` commands run at
once with the same keys would each spend the whole budget. Every process opens the same file and
charges the same windows (the key is :func:`~orch.resilience.budget.budget_key`, a hash, never a
credential).

Each step is one short ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front, so two
processes cannot both read "room for one more" and both write) on a WAL database (readers never wait
for the writer). The steps are a handful of indexed statements, so they run inline rather than on a
worker thread: a thread hop would cost more than the transaction.

Time is the system clock (``time.time``) by default: it is the one clock all processes share, and it
survives a reboot (bans last up to days). A clock stepped backwards leaves grants in the "future";
those more than one period ahead cannot be real and are dropped, so a step costs at most one period of
extra caution.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from orch.sqlite_wal import enable_wal
from orch.resilience.budget import (HALT, PENALTY, Blocks, Decision, Rule, blocks_at, decide,
                                    expiry_position)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS grants (key TEXT NOT NULL, rule TEXT NOT NULL, ts REAL NOT NULL,
                                   units INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS grants_by_window ON grants (key, rule, ts);
CREATE TABLE IF NOT EXISTS blocks (key TEXT NOT NULL, kind TEXT NOT NULL, until REAL NOT NULL,
                                   reason TEXT NOT NULL, PRIMARY KEY (key, kind));
"""


def default_budget_path() -> Path:
    """The per-user file every orch process shares unless told otherwise."""
    import platformdirs

    return Path(platformdirs.user_state_dir("orch")) / "rate-budget.sqlite3"


class SqliteBudgetStore:
    """A :class:`~orch.resilience.budget.BudgetStore` in a SQLite file shared between processes."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                   check_same_thread=False)
        enable_wal(self._db, busy_timeout)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _transaction(self, step: Callable[[float], object]) -> object:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read the clock under the lock, so timestamps are written in the order they were read.
            result = step(self._clock())
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def _prune(self, key: str, rule: Rule, now: float) -> int:
        db = self._db
        db.execute("DELETE FROM grants WHERE key = ? AND rule = ? AND (ts <= ? OR ts > ?)",
                   (key, rule.ident, now - rule.period, now + rule.period))
        (total,) = db.execute("SELECT COALESCE(SUM(units), 0) FROM grants WHERE key = ? AND rule = ?",
                              (key, rule.ident)).fetchone()
        return total

    def _wait(self, key: str, rule: Rule, now: float, room_needed: int) -> float:
        row = self._db.execute(
            "SELECT ts FROM (SELECT ts, SUM(units) OVER (ORDER BY ts, rowid) AS freed FROM grants"
            " WHERE key = ? AND rule = ?) WHERE freed >= ? ORDER BY ts LIMIT 1",
            (key, rule.ident, room_needed)).fetchone()
        return row[0] + rule.period - now if row else rule.period

    def _blocks_at(self, key: str, now: float) -> Blocks:
        rows = self._db.execute("SELECT kind, until, reason FROM blocks WHERE key = ? AND until > ?",
                                (key, now)).fetchall()
        found = {kind: (until, reason) for kind, until, reason in rows}
        return blocks_at(now, found.get(PENALTY), found.get(HALT))

    def take(self, key: str, charges: Sequence[tuple[Rule, int]]) -> Decision:
        def step(now: float) -> Decision:
            def record(charged: list[tuple[Rule, int]]) -> None:
                self._db.executemany("INSERT INTO grants (key, rule, ts, units) VALUES (?, ?, ?, ?)",
                                     [(key, rule.ident, now, units) for rule, units in charged])

            return decide(now, self._blocks_at(key, now), charges, lambda rule: self._prune(key, rule, now),
                          lambda rule, over: self._wait(key, rule, now, over), record)

        return self._transaction(step)  # type: ignore[return-value]

    def used(self, key: str, rule: Rule) -> int:
        return self._transaction(lambda now: self._prune(key, rule, now))  # type: ignore[return-value]

    def raise_usage(self, key: str, rule: Rule, at_least: int, expires_in: float | None) -> None:
        def step(now: float) -> None:
            total = self._prune(key, rule, now)
            at = expiry_position(now, rule.period, expires_in)
            if at is not None and at_least > total:
                self._db.execute("INSERT INTO grants (key, rule, ts, units) VALUES (?, ?, ?, ?)",
                                 (key, rule.ident, at, at_least - total))

        self._transaction(step)

    def block(self, key: str, kind: str, seconds: float, reason: str) -> None:
        def step(now: float) -> None:
            self._db.execute("DELETE FROM blocks WHERE until <= ?", (now,))
            self._db.execute(
                "INSERT INTO blocks (key, kind, until, reason) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key, kind) DO UPDATE SET until = excluded.until, reason = excluded.reason"
                " WHERE excluded.until > blocks.until",
                (key, kind, now + seconds, reason))

        self._transaction(step)

    def blocks(self, key: str) -> Blocks:
        return self._blocks_at(key, self._clock())
