"""The journal's SQLite schema and its migrations.

Each migration is applied once, in order, inside one ``BEGIN IMMEDIATE`` transaction, and recorded in
``schema_migrations``; several processes opening a new file at once therefore serialize and the later ones
find nothing to do. A file written by a newer orch (a higher version than :data:`SCHEMA_VERSION`) is
refused rather than guessed at. Money and quantities are TEXT (exact Decimal strings); times are UTC
ISO-8601 with microseconds, so text order is time order.
"""

from __future__ import annotations

import sqlite3

from orch.journal.model import JournalError

_V1 = (
    """CREATE TABLE orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_order_id TEXT NOT NULL UNIQUE,
        broker TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
        state TEXT NOT NULL,
        symbol TEXT NOT NULL,
        request TEXT NOT NULL,
        quote_at_submit TEXT,
        broker_order_id TEXT,
        raw_status TEXT,
        filled_qty TEXT NOT NULL DEFAULT '0',
        avg_fill_price TEXT,
        broker_updated_at TEXT,
        reject_reason TEXT,
        broker_code TEXT,
        message TEXT,
        last_order TEXT,
        source TEXT NOT NULL,
        replaces TEXT REFERENCES orders (client_order_id),
        replaced_by TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX orders_by_state ON orders (state, broker)",
    "CREATE INDEX orders_by_broker_id ON orders (broker_order_id)",
    "CREATE INDEX orders_by_created ON orders (created_at)",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id INTEGER NOT NULL REFERENCES orders (id),
        time TEXT NOT NULL,
        state TEXT NOT NULL,
        source TEXT NOT NULL,
        applied INTEGER NOT NULL,
        broker_status TEXT,
        message TEXT,
        filled_qty TEXT
    )""",
    "CREATE INDEX events_by_order ON events (order_id, seq)",
    # The audit trail is append-only: the database itself refuses edits and deletions.
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END""",
    # Binance trade ids are unique per symbol only, so a fill is identified within its order.
    """CREATE TABLE fills (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        broker TEXT NOT NULL,
        broker_order_id TEXT NOT NULL,
        fill_id TEXT NOT NULL,
        order_id INTEGER REFERENCES orders (id),
        client_order_id TEXT,
        symbol TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        data TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        UNIQUE (broker, broker_order_id, fill_id)
    )""",
    "CREATE INDEX fills_by_order ON fills (order_id)",
    "CREATE INDEX fills_by_time ON fills (timestamp)",
    """CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)

# version -> (description, statements). Append; never edit a released migration.
MIGRATIONS: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("orders, append-only events, fills, kv", _V1),
}
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(conn: sqlite3.Connection, now: str) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; return the version found before."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                            version INTEGER PRIMARY KEY,
                            description TEXT NOT NULL,
                            applied_at TEXT NOT NULL)""")
        found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise JournalError(f"the journal has schema version {found}, newer than this orch "
                               f"understands ({SCHEMA_VERSION})", hint="upgrade orch")
        for version in range(found + 1, SCHEMA_VERSION + 1):
            description, statements = MIGRATIONS[version]
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, description, now))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found
