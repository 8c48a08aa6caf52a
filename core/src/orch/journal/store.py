"""The Journal: one SQLite file, shared by every orch process of the user.

Durability. The file is in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL is
fsynced, so an intent that :meth:`Journal.record_intent` returned survives SIGKILL and power loss (WAL
with ``NORMAL`` would survive the first but may roll back the last commits on the second). The cost is one
fsync per transaction, a few per order: negligible next to a broker round trip.

Sharing. Each write is one ``BEGIN IMMEDIATE`` transaction, taking SQLite's write lock up front so a
read-modify-write (look at the state, decide, update) cannot interleave with another process's; a busy
lock is waited for up to ``busy_timeout``. Readers never block writers in WAL mode. Within a process one
connection is guarded by a lock, so threads may share a Journal. SQLite's busy wait polls, so a process
writing in a tight loop can hold off another for as long as its loop runs; orch writes a few rows per
order between network waits, far from that.

Trio. Methods are synchronous on purpose: each is a small local write (an fsync, typically well under a
few milliseconds), and calling it inline keeps the order of events obvious: the intent is durable before
the send even starts, in the same task. Where blocking the event loop for that long matters (a slow disk,
listing a long history in the CLI), use ``await journal.in_thread(journal.history, ...)``.

Secrets. Requests, orders and fills carry none; free text (reasons, broker messages) passes through
:func:`orch.secret.mask` before it is stored, and a structured record that would contain a registered
secret value is refused outright.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from orch.journal import transitions
from orch.journal.ids import new_client_order_id
from orch.journal.model import (MODES, SOURCES, DuplicateClientOrderId, HaltState, JournalEntry,
                                JournalError, JournalEvent, JournalState)
from orch.journal.paths import default_journal_path
from orch.journal.schema import migrate
from orch.models import Fill, Order, OrderRequest, Quote, from_json, to_data, to_json, utcnow
from orch.secret import contains_secret, mask
from orch.sqlite_wal import enable_wal

T = TypeVar("T")
_HALT_KEY = "halt"


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _text(value: Any) -> str | None:
    return None if value is None else mask(str(value))


def _record_json(obj: Any, what: str) -> str:
    text = to_json(obj)
    if contains_secret(text):
        raise JournalError(f"refusing to journal {what}: it contains a registered secret value")
    return text


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown journal event source {source!r} (one of {', '.join(sorted(SOURCES))})")


def _entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        id=row["id"], client_order_id=row["client_order_id"], broker=row["broker"], mode=row["mode"],
        state=JournalState(row["state"]), request=from_json(row["request"], OrderRequest),
        created_at=_dt(row["created_at"]), updated_at=_dt(row["updated_at"]), source=row["source"],
        broker_order_id=row["broker_order_id"], raw_status=row["raw_status"],
        filled_qty=Decimal(row["filled_qty"]), avg_fill_price=_dec(row["avg_fill_price"]),
        broker_updated_at=_dt(row["broker_updated_at"]), reject_reason=row["reject_reason"],
        broker_code=row["broker_code"], message=row["message"],
        quote_at_submit=from_json(row["quote_at_submit"], Quote) if row["quote_at_submit"] else None,
        order=from_json(row["last_order"], Order) if row["last_order"] else None,
        replaces=row["replaces"], replaced_by=row["replaced_by"])


def _snapshot(row: sqlite3.Row) -> transitions.Snapshot:
    return transitions.Snapshot(JournalState(row["state"]), Decimal(row["filled_qty"]),
                                _dec(row["avg_fill_price"]), _dt(row["broker_updated_at"]))


def _create_private(path: Path) -> None:
    """Order history is private: the directory and file are the user's alone (the WAL and shm files
    SQLite creates inherit the file's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


class Journal:
    """The order journal. Open with :meth:`Journal.open`; every mutator returns the entry as it now
    stands and appends an event, including for news it ignored (``applied=False``)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, now: Callable[[], datetime]) -> None:
        self._conn = conn
        self._path = path
        self._now = now
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, now: Callable[[], datetime] = utcnow,
             busy_timeout: float = 10.0) -> Journal:
        """Open (creating and migrating if needed) the journal at ``path`` (default:
        :func:`~orch.journal.paths.default_journal_path`). ``now`` is the clock for journal times."""
        target = Path(path).expanduser() if path is not None else default_journal_path()
        try:
            _create_private(target)
            conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the order journal at {target}: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = enable_wal(conn, busy_timeout)
            if mode.lower() != "wal":
                raise JournalError(f"the order journal at {target} cannot use WAL mode (got {mode})",
                                   hint="put it on a local disk: set journal.path or ORCH_HOME")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, _ts(now()))
        except sqlite3.Error as exc:
            conn.close()
            raise JournalError(f"cannot open the order journal at {target}: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, target, now)

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def in_thread(self, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run one journal call in a worker thread. A cancelled caller still waits for the call to finish
        (never abandoned), so it never loses track of whether a write happened."""
        import trio

        return await trio.to_thread.run_sync(functools.partial(method, *args, **kwargs))

    # ------------------------------------------------------------------------------ plumbing

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise JournalError(f"order journal {self._path}: {exc}") from None
            try:
                yield self._conn
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise JournalError(f"order journal {self._path}: {exc}") from None
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise JournalError(f"order journal {self._path}: {exc}") from None

    def _read(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise JournalError(f"order journal {self._path}: {exc}") from None

    @staticmethod
    def _order_row(conn: sqlite3.Connection, coid: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM orders WHERE client_order_id = ?", (coid,)).fetchone()
        if row is None:
            raise JournalError(f"no order with client order id {coid!r} in the journal")
        return row

    def _event(self, conn: sqlite3.Connection, order_id: int, state: JournalState, source: str, *,
               applied: bool = True, broker_status: str | None = None, message: str | None = None,
               filled_qty: Decimal | None = None) -> None:
        conn.execute("INSERT INTO events (order_id, time, state, source, applied, broker_status, message, "
                     "filled_qty) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (order_id, _ts(self._now()), state.value, source, int(applied), _text(broker_status),
                      _text(message), None if filled_qty is None else str(filled_qty)))

    def _update(self, conn: sqlite3.Connection, order_id: int, **columns: Any) -> None:
        columns["updated_at"] = _ts(self._now())
        assignments = ", ".join(f"{name} = ?" for name in columns)
        conn.execute(f"UPDATE orders SET {assignments} WHERE id = ?", (*columns.values(), order_id))

    def _reload(self, conn: sqlite3.Connection, order_id: int) -> JournalEntry:
        return _entry(conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone())

    # ------------------------------------------------------------------------------ submission

    def new_client_order_id(self, broker: str) -> str:
        return new_client_order_id(broker, now=self._now())

    def record_intent(self, broker: str, request: OrderRequest, *, mode: str,
                      quote_at_submit: Quote | None = None, replaces: str | None = None) -> JournalEntry:
        """Write the intent (``PENDING_SUBMIT``) and return only once it is on disk. The request's client
        order id is used if it has one, else a new one is assigned; the returned ``entry.request`` carries
        it. ``replaces`` names an order whose absence was proven (``NOT_FOUND_AT_BROKER``, same broker and
        mode, not yet resent): the only way to send the same intent twice. Raises
        :class:`DuplicateClientOrderId` for a reused id; on any error the order must not be sent."""
        if mode not in MODES:
            raise ValueError(f"mode must be 'paper' or 'live', got {mode!r}")
        coid = request.client_order_id or new_client_order_id(broker, now=self._now())
        request = request.with_client_order_id(coid)
        request_json = _record_json(request, "the order request")
        quote_json = _record_json(quote_at_submit, "the quote") if quote_at_submit is not None else None
        now = _ts(self._now())
        with self._write() as conn:
            old = self._check_resend(conn, replaces, broker, mode) if replaces is not None else None
            try:
                cursor = conn.execute(
                    "INSERT INTO orders (client_order_id, broker, mode, state, symbol, request, quote_at_submit,"
                    " source, replaces, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (coid, broker, mode, JournalState.PENDING_SUBMIT.value, request.instrument.symbol,
                     request_json, quote_json, "submit", replaces, now, now))
            except sqlite3.IntegrityError:
                raise DuplicateClientOrderId(f"client order id {coid!r} is already in the journal",
                                             hint="each order needs a new client order id") from None
            order_id = cursor.lastrowid
            self._event(conn, order_id, JournalState.PENDING_SUBMIT, "submit",
                        message=f"intent recorded ({mode})" + (f", resending {replaces}" if replaces else ""))
            if old is not None:
                self._update(conn, old["id"], replaced_by=coid)
                self._event(conn, old["id"], JournalState(old["state"]), "submit", message=f"resent as {coid}")
            return self._reload(conn, order_id)

    @classmethod
    def _check_resend(cls, conn: sqlite3.Connection, replaces: str, broker: str, mode: str) -> sqlite3.Row:
        old = cls._order_row(conn, replaces)
        if old["state"] != JournalState.NOT_FOUND_AT_BROKER.value:
            raise JournalError(f"cannot resend {replaces}: it is {old['state']}, and only an order proven "
                               "absent at the broker may be resent")
        if old["replaced_by"] is not None:
            raise JournalError(f"cannot resend {replaces}: it was already resent as {old['replaced_by']}")
        if (old["broker"], old["mode"]) != (broker, mode):
            raise JournalError(f"cannot resend {replaces} ({old['broker']}, {old['mode']}) "
                               f"as a {broker} {mode} order")
        return old

    def mark_in_flight(self, coid: str, reason: str, *, source: str = "submit") -> JournalEntry:
        """The request left but its outcome is unknown (timeout, reset, 5xx, ambiguous 429). The order must
        be looked up, never resent. Ignored (logged) if the broker's answer already arrived."""
        return self._own_transition(coid, JournalState.IN_FLIGHT, transitions.MAY_GO_IN_FLIGHT, reason, source)

    def mark_not_found(self, coid: str, reason: str, *, source: str = "reconcile") -> JournalEntry:
        """Proven absence: the broker was asked and has no such order (or the request provably never
        left). Allows a resend through ``record_intent(..., replaces=coid)``. Ignored (logged) once the
        broker has reported the order."""
        return self._own_transition(coid, JournalState.NOT_FOUND_AT_BROKER, transitions.MAY_BE_NOT_FOUND,
                                    reason, source)

    def _own_transition(self, coid: str, target: JournalState, allowed: frozenset[JournalState],
                        reason: str, source: str) -> JournalEntry:
        _check_source(source)
        with self._write() as conn:
            row = self._order_row(conn, coid)
            current = JournalState(row["state"])
            if current in allowed:
                self._update(conn, row["id"], state=target.value, message=_text(reason), source=source)
                self._event(conn, row["id"], target, source, message=reason)
            else:
                self._event(conn, row["id"], current, source, applied=False,
                            message=f"not marked {target.value} (already {current.value}): {reason}")
            return self._reload(conn, row["id"])

    # ------------------------------------------------------------------------------ broker news

    def record_order(self, coid: str, order: Order, source: str) -> JournalEntry:
        """Record what the broker says about the order (from the submit answer, a look-up, a stream or
        reconciliation). Stale news is kept in the events but does not move the order back (see
        :mod:`orch.journal.transitions`). Refuses an order of another broker, client order id or broker
        order id than the one journaled."""
        _check_source(source)
        order_json = _record_json(order, "the broker's order")
        with self._write() as conn:
            row = self._order_row(conn, coid)
            problem = None
            if order.broker != row["broker"]:
                problem = f"it belongs to broker {order.broker}, not {row['broker']}"
            elif order.client_order_id not in (None, coid):
                problem = f"its client order id is {order.client_order_id!r}"
            elif row["broker_order_id"] not in (None, order.broker_order_id):
                problem = f"its broker order id {order.broker_order_id!r} differs from {row['broker_order_id']!r}"
            if problem:
                raise JournalError(f"refusing to record a broker order for {coid}: {problem}")
            outcome = transitions.apply_order(_snapshot(row), order)
            view = outcome.view
            note = outcome.note
            found_after_resend = row["state"] == JournalState.NOT_FOUND_AT_BROKER.value and row["replaced_by"]
            if outcome.adopted and found_after_resend:
                note = f"{note}; it was resent as {row['replaced_by']}: both may be live"
            columns: dict[str, Any] = dict(
                filled_qty=str(view.filled_qty),
                avg_fill_price=None if view.avg_fill_price is None else str(view.avg_fill_price),
                broker_updated_at=None if view.broker_updated_at is None else _ts(view.broker_updated_at))
            if outcome.adopted:
                columns.update(state=view.state.value, broker_order_id=order.broker_order_id,
                               raw_status=_text(order.raw_status), last_order=order_json, source=source)
                if view.state is JournalState.REJECTED:
                    columns["reject_reason"] = _text(order.reject_reason)
            if outcome.adopted or outcome.changed:
                self._update(conn, row["id"], **columns)
            self._event(conn, row["id"], view.state, source, applied=outcome.adopted or outcome.changed,
                        broker_status=order.raw_status, message=note, filled_qty=order.filled_qty)
            return self._reload(conn, row["id"])

    def record_rejection(self, coid: str, reason: str, broker_code: str | int | None = None, *,
                         source: str = "submit") -> JournalEntry:
        """The broker explicitly refused the order (:class:`~orch.errors.OrderRejected`). Never call this
        for a timeout, a 5xx or any error whose outcome is unknown (use :meth:`mark_in_flight`), nor for a
        refused cancel. Ignored (logged) if the order already reached a final status."""
        _check_source(source)
        with self._write() as conn:
            row = self._order_row(conn, coid)
            current = JournalState(row["state"])
            code = None if broker_code is None else str(broker_code)
            if current.is_final:
                self._event(conn, row["id"], current, source, applied=False,
                            message=f"rejection ignored (already {current.value}): {reason}")
            else:
                self._update(conn, row["id"], state=JournalState.REJECTED.value, reject_reason=_text(reason),
                             broker_code=_text(code), source=source)
                self._event(conn, row["id"], JournalState.REJECTED, source,
                            message=reason if code is None else f"{reason} [code {code}]")
            return self._reload(conn, row["id"])

    def record_fill(self, fill: Fill, *, source: str = "stream") -> bool:
        """Store a fill once (idempotent on broker, broker order id and fill id); return whether it was
        new. A fill of a journaled order raises that order's filled quantity if the fills add up to more
        than the broker last reported; fills of orders placed outside orch are kept unlinked."""
        _check_source(source)
        data = _record_json(fill, "the fill")
        with self._write() as conn:
            row = None
            if fill.client_order_id is not None:
                row = conn.execute("SELECT * FROM orders WHERE client_order_id = ? AND broker = ?",
                                   (fill.client_order_id, fill.broker)).fetchone()
            if row is None:
                row = conn.execute("SELECT * FROM orders WHERE broker_order_id = ? AND broker = ? "
                                   "ORDER BY id DESC", (fill.broker_order_id, fill.broker)).fetchone()
            if row is not None and row["broker_order_id"] not in (None, fill.broker_order_id):
                raise JournalError(f"refusing to record fill {fill.fill_id} for {row['client_order_id']}: its "
                                   f"broker order id {fill.broker_order_id!r} differs from "
                                   f"{row['broker_order_id']!r}")
            cursor = conn.execute(
                "INSERT OR IGNORE INTO fills (broker, broker_order_id, fill_id, order_id, client_order_id, symbol,"
                " timestamp, data, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fill.broker, fill.broker_order_id, fill.fill_id, None if row is None else row["id"],
                 None if row is None else row["client_order_id"], fill.instrument.symbol, _ts(fill.timestamp),
                 data, _ts(self._now())))
            if cursor.rowcount == 0:
                return False
            if row is not None:
                self._apply_fills(conn, row, fill, source)
            return True

    def _apply_fills(self, conn: sqlite3.Connection, row: sqlite3.Row, fill: Fill, source: str) -> None:
        fills = [from_json(r["data"], Fill) for r in
                 conn.execute("SELECT data FROM fills WHERE order_id = ?", (row["id"],))]
        total = sum((f.qty for f in fills), Decimal(0))
        average = sum((f.qty * f.price for f in fills), Decimal(0)) / total if total else None
        current = _snapshot(row)
        filled_qty, avg_price = transitions.merge_fills(current, total, average)
        columns: dict[str, Any] = {}
        if (filled_qty, avg_price) != (current.filled_qty, current.avg_fill_price):
            columns.update(filled_qty=str(filled_qty),
                           avg_fill_price=None if avg_price is None else str(avg_price))
        if row["broker_order_id"] is None:
            columns["broker_order_id"] = fill.broker_order_id
        if columns:
            self._update(conn, row["id"], **columns)
        self._event(conn, row["id"], current.state, source, applied=bool(columns), filled_qty=filled_qty,
                    message=f"fill {fill.fill_id}: {fill.qty} @ {fill.price}")

    # ------------------------------------------------------------------------------ queries

    def get(self, key: int | str, *, broker: str | None = None) -> JournalEntry | None:
        """Find an order by journal id (int), client order id, or broker order id (narrowed by ``broker``
        when given). A string of digits that is neither id of an order is tried as a journal id. Raises if a
        broker order id matches orders of several brokers."""
        if isinstance(key, int):
            rows = self._read("SELECT * FROM orders WHERE id = ?", (key,))
        else:
            rows = self._read("SELECT * FROM orders WHERE client_order_id = ?", (key,))
            if not rows:
                sql, params = "SELECT * FROM orders WHERE broker_order_id = ?", [key]
                if broker is not None:
                    sql, params = sql + " AND broker = ?", params + [broker]
                rows = self._read(sql, params)
                if len(rows) > 1:
                    brokers = ", ".join(sorted({r["broker"] for r in rows}))
                    raise JournalError(f"broker order id {key!r} matches orders at {brokers}",
                                       hint="name the broker")
            if not rows and key.isdigit():
                rows = self._read("SELECT * FROM orders WHERE id = ?", (int(key),))
        if rows and broker is not None and rows[0]["broker"] != broker:
            return None
        return _entry(rows[0]) if rows else None

    def unresolved(self, broker: str | None = None) -> list[JournalEntry]:
        """Orders to reconcile on start-up, oldest first: ``PENDING_SUBMIT``, ``IN_FLIGHT`` or open."""
        states = [s.value for s in JournalState if s.is_unresolved]
        sql = f"SELECT * FROM orders WHERE state IN ({', '.join('?' * len(states))})"
        params: list[Any] = list(states)
        if broker is not None:
            sql, params = sql + " AND broker = ?", params + [broker]
        return [_entry(r) for r in self._read(sql + " ORDER BY id", params)]

    def count_open(self, broker: str | None = None) -> int:
        """How many orders the broker holds open (working or partially filled), counted by SQLite on the
        ``(state, broker)`` index: the risk check asks before every placement, and a trader may have
        hundreds of resting orders. Orders not yet known to have arrived are not counted."""
        states = [s.value for s in JournalState if s.is_open]
        sql = f"SELECT COUNT(*) FROM orders WHERE state IN ({', '.join('?' * len(states))})"
        params: list[Any] = list(states)
        if broker is not None:
            sql, params = sql + " AND broker = ?", params + [broker]
        return int(self._read(sql, params)[0][0])

    def history(self, broker: str | None = None, *, rejected: bool = False, since: datetime | None = None,
                limit: int = 100) -> list[JournalEntry]:
        """Orders, newest first. ``rejected=True`` lists only orders the broker rejected; ``since`` keeps
        orders created at or after that (aware) time."""
        where, params = self._filters(broker=broker, since=since, time_column="created_at")
        if rejected:
            where.append("state = ?")
            params.append(JournalState.REJECTED.value)
        sql = "SELECT * FROM orders" + (" WHERE " + " AND ".join(where) if where else "")
        return [_entry(r) for r in self._read(sql + " ORDER BY created_at DESC, id DESC LIMIT ?",
                                              [*params, _limit(limit)])]

    def fills(self, broker: str | None = None, *, client_order_id: str | None = None,
              since: datetime | None = None, limit: int = 100) -> list[Fill]:
        """Recorded fills, newest first (by the broker's fill time)."""
        where, params = self._filters(broker=broker, since=since, time_column="timestamp")
        if client_order_id is not None:
            where.append("client_order_id = ?")
            params.append(client_order_id)
        sql = "SELECT data FROM fills" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._read(sql + " ORDER BY timestamp DESC, id DESC LIMIT ?", [*params, _limit(limit)])
        return [from_json(r["data"], Fill) for r in rows]

    @staticmethod
    def _filters(*, broker: str | None, since: datetime | None, time_column: str) -> tuple[list[str], list]:
        where: list[str] = []
        params: list[Any] = []
        if broker is not None:
            where.append("broker = ?")
            params.append(broker)
        if since is not None:
            where.append(f"{time_column} >= ?")
            params.append(_ts(since))
        return where, params

    def events(self, coid: str) -> list[JournalEvent]:
        """An order's audit trail, in the order it was written."""
        rows = self._read("SELECT e.*, o.client_order_id FROM events e JOIN orders o ON o.id = e.order_id "
                          "WHERE o.client_order_id = ? ORDER BY e.seq", (coid,))
        return [JournalEvent(seq=r["seq"], client_order_id=r["client_order_id"], time=_dt(r["time"]),
                             state=JournalState(r["state"]), source=r["source"], applied=bool(r["applied"]),
                             broker_status=r["broker_status"], message=r["message"],
                             filled_qty=_dec(r["filled_qty"])) for r in rows]

    # ------------------------------------------------------------------------------ kill switch and kv

    def set_halt(self, reason: str) -> HaltState:
        """Engage the kill switch. If already engaged, the first reason and time are kept (the original
        cause is what matters) and returned."""
        with self._write() as conn:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (_HALT_KEY,)).fetchone()
            if row is not None:
                return _halt(row["value"])
            # One line: `orch status` and every error that quotes the halt print it on a single line.
            state = HaltState(" ".join((_text(reason) or "").split()) or "halted", self._now())
            self._put(conn, _HALT_KEY, {"reason": state.reason, "since": _ts(state.since)})
            return state

    def clear_halt(self) -> HaltState | None:
        """Release the kill switch; return the halt that was cleared, if any."""
        with self._write() as conn:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (_HALT_KEY,)).fetchone()
            conn.execute("DELETE FROM kv WHERE key = ?", (_HALT_KEY,))
            return None if row is None else _halt(row["value"])

    def halt_state(self) -> HaltState | None:
        rows = self._read("SELECT value FROM kv WHERE key = ?", (_HALT_KEY,))
        return _halt(rows[0]["value"]) if rows else None

    def set_value(self, key: str, value: Any) -> None:
        """Keep a small piece of state (a daily P&L baseline…). ``value`` is unstructured with
        :func:`orch.models.to_data` (Decimals become strings); read it back with :meth:`get_value` and
        :func:`orch.models.from_data`. The key ``halt`` belongs to the kill switch."""
        with self._write() as conn:
            self._put(conn, key, to_data(value))

    def get_value(self, key: str, default: Any = None) -> Any:
        rows = self._read("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def _put(self, conn: sqlite3.Connection, key: str, data: Any) -> None:
        conn.execute("INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                     "SET value = excluded.value, updated_at = excluded.updated_at",
                     (key, mask(json.dumps(data)), _ts(self._now())))


def _halt(text: str) -> HaltState:
    data = json.loads(text)
    return HaltState(data["reason"], datetime.fromisoformat(data["since"]))


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    # SQLite's LIMIT is a 64-bit integer; a larger one (orch order history --limit 1e20) means "all".
    return min(limit, 2**63 - 1)
