"""The order journal: durable intents, at-most-once resends, ordered state, fills, audit, kill switch."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orch.config_model import JournalSettings
from orch.journal import (DuplicateClientOrderId, HaltState, Journal, JournalEntry, JournalError, JournalEvent,
                          JournalState, default_journal_path, journal_path, new_client_order_id)
from orch.journal.ids import PORTABLE
from orch.journal.transitions import Snapshot, apply_order
from orch.models import (Fill, Instrument, Market, Order, OrderRequest, OrderStatus, OrderType, Quote, Side,
                         from_data, to_data)
from orch.secret import REDACTED, Secret

AAPL = Instrument("AAPL", Market.US_STOCKS)
BTC = Instrument("BTCUSDT", Market.CRYPTO, currency="USDT")
T0 = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)
S = JournalState


class Clock:
    """The journal's injected clock: moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def journal(tmp_path, clock):
    with Journal.open(tmp_path / "journal.sqlite", now=clock) as j:
        yield j


def buy(qty="10", **kw) -> OrderRequest:
    return OrderRequest(instrument=AAPL, side=Side.BUY, qty=qty, type=OrderType.LIMIT, limit_price="190", **kw)


def broker_order(coid, status, *, broker="alpaca", broker_id="b-1", filled="0", avg=None, at=None,
                 raw=None, reason=None) -> Order:
    return Order(broker=broker, broker_order_id=broker_id, client_order_id=coid, instrument=AAPL,
                 side=Side.BUY, type=OrderType.LIMIT, status=status, raw_status=raw or status.value, qty="10",
                 filled_qty=filled, avg_fill_price=avg, limit_price="190", updated_at=at, reject_reason=reason)


def fill(fill_id, qty, price, *, coid=None, broker="alpaca", broker_id="b-1", at=T0) -> Fill:
    return Fill(broker=broker, broker_order_id=broker_id, fill_id=fill_id, instrument=AAPL, side=Side.BUY,
                qty=qty, price=price, timestamp=at, client_order_id=coid)


def run_python(code: str, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], text=True, **popen)


# ------------------------------------------------------------------------------------------ paths


def test_default_path_is_under_orch_home_when_set(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / "home"))
    assert default_journal_path() == tmp_path / "home" / "journal.sqlite"
    assert journal_path(JournalSettings()) == tmp_path / "home" / "journal.sqlite"
    assert journal_path(JournalSettings(path=str(tmp_path / "x.db"))) == tmp_path / "x.db"


def test_default_path_falls_back_to_the_user_state_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv("ORCH_HOME", raising=False)
    assert default_journal_path() == platformdirs.user_state_path("orch", appauthor=False) / "journal.sqlite"


# ------------------------------------------------------------------------------------------ storage


def test_open_uses_wal_full_sync_a_busy_timeout_and_a_private_file(journal, tmp_path):
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
    assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert journal._conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reopening_keeps_data_and_a_newer_schema_is_refused(tmp_path, clock):
    path = tmp_path / "j.sqlite"
    with Journal.open(path, now=clock) as j:
        coid = j.record_intent("alpaca", buy(), mode="paper").client_order_id
    with Journal.open(path, now=clock) as j:
        assert j.get(coid).state is S.PENDING_SUBMIT
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (7, 'future', '2030-01-01')")
    with pytest.raises(JournalError, match="schema version 7, newer"):
        Journal.open(path)


def test_a_file_that_is_not_a_journal_gives_one_clear_line(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just words " * 100)
    with pytest.raises(JournalError) as info:
        Journal.open(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_events_are_append_only_in_the_database_itself(journal, tmp_path):
    journal.record_intent("alpaca", buy(), mode="paper")
    with sqlite3.connect(tmp_path / "journal.sqlite") as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE events SET message = 'rewritten'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events")


# ------------------------------------------------------------------------------------------ durability

_WRITE_THEN_HANG = """
    import sys, time
    from orch.journal import Journal
    from orch.models import Instrument, Market, OrderRequest, Side
    journal = Journal.open(sys.argv[1])
    request = OrderRequest(instrument=Instrument("AAPL", Market.US_STOCKS), side=Side.BUY, qty="3")
    entry = journal.record_intent("alpaca", request, mode="live")
    print(entry.client_order_id, flush=True)
    time.sleep(600)
"""


def test_an_intent_is_durable_before_record_intent_returns(tmp_path):
    path = tmp_path / "journal.sqlite"
    proc = run_python(_WRITE_THEN_HANG, str(path), stdout=subprocess.PIPE)
    try:
        coid = proc.stdout.readline().strip()
        assert coid.startswith("orch-")
        # The writer is killed with its connection open: nothing was closed or checkpointed cleanly.
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert Path(f"{path}-wal").stat().st_size > 0
    with Journal.open(path) as journal:
        entry = journal.get(coid)
        assert entry is not None and entry.state is S.PENDING_SUBMIT and entry.mode == "live"
        assert entry.request.qty == Decimal(3)
        assert [e.state for e in journal.events(coid)] == [S.PENDING_SUBMIT]
        assert journal.unresolved() == [entry]


_WRITER = """
    import sys
    from orch.journal import Journal
    from orch.models import Instrument, Market, Order, OrderRequest, OrderStatus, OrderType, Side
    path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    aapl = Instrument("AAPL", Market.US_STOCKS)
    with Journal.open(path) as journal:
        sys.stdin.readline()  # start together: both processes hold the file open before either writes
        for i in range(count):
            entry = journal.record_intent(tag, OrderRequest(instrument=aapl, side=Side.BUY, qty="1"), mode="paper")
            coid = entry.client_order_id
            journal.mark_in_flight(coid, "timeout")
            journal.record_order(coid, Order(broker=tag, broker_order_id=f"{tag}-{i}", client_order_id=coid,
                                             instrument=aapl, side=Side.BUY, type=OrderType.MARKET,
                                             status=OrderStatus.NEW, raw_status="new", qty="1"), "lookup")
            print(coid, flush=True)
"""


def test_two_processes_write_concurrently_without_loss(tmp_path):
    path = tmp_path / "shared.sqlite"
    count = 60
    procs = [run_python(_WRITER, str(path), tag, str(count), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE) for tag in ("alpaca", "binance")]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    with Journal.open(path) as journal:
        for tag, (out, _) in zip(("alpaca", "binance"), outputs):
            coids = out.split()
            assert len(set(coids)) == count
            for coid in coids:
                entry = journal.get(coid)
                assert (entry.broker, entry.state) == (tag, S.NEW)
                assert [e.state for e in journal.events(coid)] == [S.PENDING_SUBMIT, S.IN_FLIGHT, S.NEW]
            assert len(journal.history(tag, limit=1000)) == count
        seqs = [e.seq for coid in outputs[0][0].split() + outputs[1][0].split() for e in journal.events(coid)]
        assert len(seqs) == len(set(seqs)) == 6 * count


# ------------------------------------------------------------------------------------------ submission


def test_record_intent_assigns_an_id_and_keeps_what_was_asked(journal, clock):
    quote = Quote(broker="alpaca", instrument=AAPL, timestamp=T0, bid="189.9", ask="190.1")
    entry = journal.record_intent("alpaca", buy(), mode="paper", quote_at_submit=quote)
    assert entry.client_order_id.startswith("orch-")
    assert entry.request.client_order_id == entry.client_order_id
    assert entry.request == buy().with_client_order_id(entry.client_order_id)
    assert (entry.state, entry.mode, entry.quote_at_submit, entry.created_at) == (S.PENDING_SUBMIT, "paper",
                                                                                  quote, T0)
    assert journal.get(entry.client_order_id) == entry
    assert isinstance(entry.request.qty, Decimal)


def test_a_client_order_id_is_never_journaled_twice(journal):
    journal.record_intent("alpaca", buy(client_order_id="orch-mine"), mode="paper")
    with pytest.raises(DuplicateClientOrderId, match="orch-mine"):
        journal.record_intent("binance", buy(client_order_id="orch-mine"), mode="paper")
    assert len(journal.history()) == 1


def test_mode_must_be_paper_or_live(journal):
    with pytest.raises(ValueError, match="paper"):
        journal.record_intent("alpaca", buy(), mode="demo")
    assert journal.history() == []


# ------------------------------------------------------------------------------------------ transitions


def test_a_normal_lifecycle_is_journaled_event_by_event(journal, clock):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    clock.advance()
    assert journal.mark_in_flight(coid, "read timeout after 10s").state is S.IN_FLIGHT
    clock.advance()
    journal.record_order(coid, broker_order(coid, OrderStatus.NEW), "lookup")
    journal.record_order(coid, broker_order(coid, OrderStatus.PARTIALLY_FILLED, filled="4", avg="189.5"),
                         "stream")
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.FILLED, filled="10", avg="189.8"),
                                 "stream")
    assert (entry.state, entry.broker_order_id, entry.filled_qty, entry.avg_fill_price) == (
        S.FILLED, "b-1", Decimal(10), Decimal("189.8"))
    assert entry.order.status is OrderStatus.FILLED and entry.updated_at == T0 + timedelta(seconds=2)
    events = journal.events(coid)
    assert [(e.state, e.source, e.applied) for e in events] == [
        (S.PENDING_SUBMIT, "submit", True), (S.IN_FLIGHT, "submit", True), (S.NEW, "lookup", True),
        (S.PARTIALLY_FILLED, "stream", True), (S.FILLED, "stream", True)]
    assert events[1].message == "read timeout after 10s" and events[1].time == T0 + timedelta(seconds=1)
    assert events[3].broker_status == "partially_filled" and events[3].filled_qty == Decimal(4)


def test_late_news_never_moves_an_order_back(journal):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    journal.record_order(coid, broker_order(coid, OrderStatus.FILLED, filled="10", avg="189.8"), "stream")
    # The HTTP answer of the submit, and a stale look-up, arrive after the stream's fill.
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.NEW), "submit")
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.PARTIALLY_FILLED, filled="4"), "lookup")
    assert (entry.state, entry.filled_qty, entry.avg_fill_price) == (S.FILLED, Decimal(10), Decimal("189.8"))
    assert entry.order.status is OrderStatus.FILLED
    late = journal.events(coid)[-2:]
    assert [(e.state, e.broker_status, e.applied) for e in late] == [
        (S.FILLED, "new", False), (S.FILLED, "partially_filled", False)]
    assert "stale" in late[0].message
    # The stream overtaking the submit call: it is not demoted to in-flight either.
    assert journal.mark_in_flight(coid, "reset").state is S.FILLED
    assert journal.events(coid)[-1].applied is False


def test_the_brokers_own_update_time_orders_news_when_given(journal):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    at = [T0 + timedelta(seconds=s) for s in range(4)]
    journal.record_order(coid, broker_order(coid, OrderStatus.PENDING_CANCEL, at=at[2]), "stream")
    assert journal.record_order(coid, broker_order(coid, OrderStatus.NEW, at=at[1]), "lookup").state \
        is S.PENDING_CANCEL
    # The broker refused the cancel: the order is new again, and newer than the pending cancel.
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.NEW, at=at[3]), "stream")
    assert (entry.state, entry.broker_updated_at) == (S.NEW, at[3])


def test_a_partial_fill_during_a_pending_cancel_raises_the_filled_quantity_only(journal):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    journal.record_order(coid, broker_order(coid, OrderStatus.PENDING_CANCEL), "stream")
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.PARTIALLY_FILLED, filled="3", avg="190"),
                                 "stream")
    assert (entry.state, entry.filled_qty, entry.avg_fill_price) == (S.PENDING_CANCEL, Decimal(3), Decimal(190))
    assert journal.events(coid)[-1].applied is True


@pytest.mark.parametrize(("current", "incoming", "taken"), [
    (S.PENDING_SUBMIT, OrderStatus.NEW, True), (S.IN_FLIGHT, OrderStatus.ACCEPTED, True),
    (S.ACCEPTED, OrderStatus.NEW, True), (S.NEW, OrderStatus.ACCEPTED, False),
    (S.PARTIALLY_FILLED, OrderStatus.NEW, False), (S.NEW, OrderStatus.CANCELED, True),
    (S.CANCELED, OrderStatus.FILLED, False), (S.FILLED, OrderStatus.FILLED, True),
    (S.EXPIRED, OrderStatus.NEW, False), (S.NOT_FOUND_AT_BROKER, OrderStatus.NEW, True),
])
def test_transition_rules(current, incoming, taken):
    outcome = apply_order(Snapshot(current), broker_order("c", incoming))
    assert outcome.adopted is taken
    assert outcome.view.state is (JournalState.of(incoming) if taken else current)


def test_orders_of_another_broker_id_or_client_id_are_refused(journal):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    journal.record_order(coid, broker_order(coid, OrderStatus.NEW), "submit")
    for wrong in (broker_order(coid, OrderStatus.FILLED, broker="binance"),
                  broker_order("orch-other", OrderStatus.FILLED),
                  broker_order(coid, OrderStatus.FILLED, broker_id="b-2")):
        with pytest.raises(JournalError, match="refusing"):
            journal.record_order(coid, wrong, "stream")
    assert journal.get(coid).state is S.NEW
    with pytest.raises(JournalError, match="no order"):
        journal.record_order("orch-unknown", broker_order("orch-unknown", OrderStatus.NEW), "stream")


def test_only_an_explicit_rejection_rejects(journal):
    coid = journal.record_intent("binance", buy(), mode="live").client_order_id
    entry = journal.record_rejection(coid, "Account has insufficient balance", -2010)
    assert (entry.state, entry.reject_reason, entry.broker_code) == (
        S.REJECTED, "Account has insufficient balance", "-2010")
    assert journal.events(coid)[-1].message == "Account has insufficient balance [code -2010]"
    filled = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    journal.record_order(filled, broker_order(filled, OrderStatus.FILLED, filled="10"), "stream")
    assert journal.record_rejection(filled, "late reject").state is S.FILLED
    # A rejection reported as the broker's order status is just as explicit.
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.REJECTED, reason="market closed"), "submit")
    assert (entry.state, entry.reject_reason) == (S.REJECTED, "market closed")


def test_a_resend_needs_proven_absence_and_links_both_orders(journal):
    first = journal.record_intent("alpaca", buy(), mode="live").client_order_id
    with pytest.raises(JournalError, match="only an order proven absent"):
        journal.record_intent("alpaca", buy(), mode="live", replaces=first)
    journal.mark_in_flight(first, "connection reset")
    assert journal.mark_not_found(first, "no such client order id").state is S.NOT_FOUND_AT_BROKER
    assert journal.get(first).is_resendable
    for broker, mode in (("binance", "live"), ("alpaca", "paper")):
        with pytest.raises(JournalError, match="cannot resend"):
            journal.record_intent(broker, buy(), mode=mode, replaces=first)
    second = journal.record_intent("alpaca", buy(), mode="live", replaces=first)
    assert second.client_order_id != first and second.replaces == first
    assert journal.get(first).replaced_by == second.client_order_id
    assert not journal.get(first).is_resendable
    with pytest.raises(JournalError, match="already resent"):
        journal.record_intent("alpaca", buy(), mode="live", replaces=first)
    assert [e.message for e in journal.events(first)][-1] == f"resent as {second.client_order_id}"


def test_absence_cannot_be_claimed_once_the_broker_reported_the_order(journal):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    journal.record_order(coid, broker_order(coid, OrderStatus.NEW), "stream")
    assert journal.mark_not_found(coid, "empty lookup").state is S.NEW
    assert not journal.get(coid).is_resendable


def test_an_order_found_after_its_absence_was_recorded_is_followed_and_noted(journal):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    journal.mark_not_found(coid, "404")
    resent = journal.record_intent("alpaca", buy(), mode="paper", replaces=coid).client_order_id
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.NEW), "reconcile")
    assert entry.state is S.NEW
    message = journal.events(coid)[-1].message
    assert "after its absence" in message and f"resent as {resent}: both may be live" in message
    assert [e.client_order_id for e in journal.unresolved()] == [coid, resent]


# ------------------------------------------------------------------------------------------ queries


def test_unresolved_lists_what_to_reconcile_oldest_first(journal, clock):
    def intent(broker="alpaca"):
        clock.advance()
        return journal.record_intent(broker, buy(), mode="paper").client_order_id

    pending, in_flight, open_, partial, filled, rejected, absent = (intent() for _ in range(7))
    other = intent("binance")
    journal.mark_in_flight(in_flight, "timeout")
    journal.record_order(open_, broker_order(open_, OrderStatus.NEW, broker_id="o"), "submit")
    journal.record_order(partial, broker_order(partial, OrderStatus.PARTIALLY_FILLED, broker_id="p", filled="1"),
                         "stream")
    journal.record_order(filled, broker_order(filled, OrderStatus.FILLED, broker_id="f", filled="10"), "stream")
    journal.record_rejection(rejected, "no")
    journal.mark_not_found(absent, "404")
    assert [e.client_order_id for e in journal.unresolved("alpaca")] == [pending, in_flight, open_, partial]
    assert [e.client_order_id for e in journal.unresolved()] == [pending, in_flight, open_, partial, other]
    # The risk check's count: open at the broker only (not pending, in flight or final), per broker.
    assert journal.count_open("alpaca") == 2 == len([e for e in journal.unresolved("alpaca") if e.state.is_open])
    assert journal.count_open("binance") == 0 and journal.count_open() == 2
    journal.record_order(other, broker_order(other, OrderStatus.NEW, broker="binance", broker_id="b"), "submit")
    assert journal.count_open("binance") == 1 and journal.count_open() == 3
    journal.record_order(open_, broker_order(open_, OrderStatus.CANCELED, broker_id="o"), "stream")
    assert journal.count_open("alpaca") == 1


def test_history_filters_by_broker_rejection_time_and_limit(journal, clock):
    coids = []
    for broker in ("alpaca", "binance", "alpaca", "alpaca"):
        clock.advance(60)
        coids.append(journal.record_intent(broker, buy(), mode="paper").client_order_id)
    journal.record_rejection(coids[2], "halted symbol")
    ids = lambda entries: [e.client_order_id for e in entries]  # noqa: E731
    assert ids(journal.history()) == coids[::-1]
    assert ids(journal.history("alpaca")) == [coids[3], coids[2], coids[0]]
    assert ids(journal.history(rejected=True)) == [coids[2]]
    assert ids(journal.history("binance", rejected=True)) == []
    assert ids(journal.history(since=T0 + timedelta(minutes=3))) == [coids[3], coids[2]]
    assert ids(journal.history(limit=1)) == [coids[3]]
    with pytest.raises(ValueError, match="timezone-aware"):
        journal.history(since=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="limit"):
        journal.history(limit=0)


def test_get_finds_by_journal_id_client_id_or_broker_id(journal):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.NEW, broker_id="777"), "submit")
    assert journal.get(entry.id) == journal.get(coid) == journal.get("777") == entry
    assert journal.get(str(entry.id)) == entry
    assert journal.get("777", broker="binance") is None
    assert journal.get("orch-nope") is None
    other = journal.record_intent("binance", buy(), mode="paper").client_order_id
    journal.record_order(other, broker_order(other, OrderStatus.NEW, broker="binance", broker_id="777"), "submit")
    with pytest.raises(JournalError, match="name the broker"):
        journal.get("777")
    assert journal.get("777", broker="binance").client_order_id == other


def test_entries_and_events_round_trip_through_the_models_converter(journal):
    quote = Quote(broker="alpaca", instrument=AAPL, timestamp=T0, bid="1", ask="2")
    coid = journal.record_intent("alpaca", buy(), mode="paper", quote_at_submit=quote).client_order_id
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.PARTIALLY_FILLED, filled="2.5",
                                                    avg="189.99", at=T0), "stream")
    assert from_data(to_data(entry), JournalEntry) == entry
    data = to_data(entry)
    assert data["filled_qty"] == "2.5" and data["state"] == "partially_filled"
    for event in journal.events(coid):
        assert from_data(to_data(event), JournalEvent) == event


# ------------------------------------------------------------------------------------------ fills


def test_fills_are_recorded_once_and_raise_the_filled_quantity(journal, clock):
    coid = journal.record_intent("alpaca", buy(), mode="paper").client_order_id
    journal.record_order(coid, broker_order(coid, OrderStatus.NEW), "submit")
    assert journal.record_fill(fill("f1", "4", "189", coid=coid)) is True
    assert journal.record_fill(fill("f1", "4", "189", coid=coid)) is False
    assert journal.record_fill(fill("f2", "6", "190", at=T0 + timedelta(seconds=5))) is True  # by broker id
    entry = journal.get(coid)
    assert (entry.filled_qty, entry.avg_fill_price) == (Decimal(10), Decimal("189.6"))
    assert [f.fill_id for f in journal.fills()] == ["f2", "f1"]
    assert [f.fill_id for f in journal.fills(client_order_id=coid, since=T0 + timedelta(seconds=1))] == ["f2"]
    assert journal.fills("binance") == []
    assert [e.message for e in journal.events(coid) if e.message and e.message.startswith("fill")] == [
        "fill f1: 4 @ 189", "fill f2: 6 @ 190"]
    # A later broker report of fewer fills does not lower what the fills prove.
    entry = journal.record_order(coid, broker_order(coid, OrderStatus.PARTIALLY_FILLED, filled="4"), "lookup")
    assert entry.filled_qty == Decimal(10)


def test_a_fill_can_arrive_before_the_submit_answer(journal):
    coid = journal.record_intent("binance", buy(), mode="paper").client_order_id
    journal.mark_in_flight(coid, "timeout")
    assert journal.record_fill(fill("9", "1", "45000.5", coid=coid, broker="binance", broker_id="123"))
    entry = journal.get(coid)
    assert (entry.state, entry.broker_order_id, entry.filled_qty) == (S.IN_FLIGHT, "123", Decimal(1))


def test_the_same_trade_id_on_two_orders_is_two_fills(journal):
    # Binance trade ids are unique per symbol only.
    assert journal.record_fill(fill("42", "1", "10", broker="binance", broker_id="1"))
    assert journal.record_fill(fill("42", "2", "11", broker="binance", broker_id="2"))
    assert len(journal.fills("binance")) == 2  # orders placed outside orch: kept, unlinked


# ------------------------------------------------------------------------------------------ client order ids


@settings(max_examples=200)
@given(broker=st.sampled_from(["alpaca", "binance", "ibkr", "trading212", "xtb", "x"]),
       now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31),
                        timezones=st.just(timezone.utc)))
def test_client_order_ids_fit_every_broker(broker, now):
    coid = new_client_order_id(broker, now=now)
    assert coid.startswith("orch-") and len(coid) <= 32
    assert PORTABLE.match(coid) and all(c.isalnum() or c == "-" for c in coid)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 1, 1),
                    timezones=st.just(timezone.utc)),
       st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(days=3650)))
def test_client_order_ids_sort_by_creation_time(earlier, gap):
    assert new_client_order_id("alpaca", now=earlier) < new_client_order_id("alpaca", now=earlier + gap)


def test_client_order_ids_are_unique_even_in_the_same_millisecond(journal):
    ids = {new_client_order_id("alpaca", now=T0) for _ in range(20000)}
    assert len(ids) == 20000
    assert journal.new_client_order_id("alpaca")[:14] == new_client_order_id("alpaca", now=T0)[:14]


# ------------------------------------------------------------------------------------------ secrets

CANARY = "canary-Journal-9c41e7d2aa"


def test_no_secret_value_ever_reaches_the_journal_files(tmp_path, clock):
    Secret(CANARY)
    path = tmp_path / "journal.sqlite"
    with Journal.open(path, now=clock) as journal:
        a = journal.record_intent("binance", buy(), mode="live").client_order_id
        journal.mark_in_flight(a, f"timeout on https://api/order?signature={CANARY}")
        b = journal.record_intent("binance", buy(), mode="live").client_order_id
        journal.record_rejection(b, f"bad key {CANARY}", broker_code=CANARY)
        journal.set_halt(f"operator halt {CANARY}")
        journal.set_value("note", {"text": CANARY})
        leaky = OrderRequest(instrument=Instrument("X", Market.CRYPTO, broker_ids={"binance": CANARY}),
                             side=Side.BUY, qty="1")
        with pytest.raises(JournalError, match="secret"):
            journal.record_intent("binance", leaky, mode="live")
        assert REDACTED in journal.events(a)[-1].message and REDACTED in journal.halt_state().reason
        files = sorted(tmp_path.iterdir())
        assert any(p.name.endswith("-wal") for p in files)
        blob = b"".join(p.read_bytes() for p in files)
        assert b"timeout on https://api/order" in blob  # the test reads the files that hold the events
        assert CANARY.encode() not in blob
    assert CANARY.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


# ------------------------------------------------------------------------------------------ kill switch, kv


def test_the_halt_flag_persists_and_keeps_its_first_reason(tmp_path, clock):
    path = tmp_path / "journal.sqlite"
    with Journal.open(path, now=clock) as journal:
        assert journal.halt_state() is None
        assert journal.set_halt("daily loss limit") == HaltState("daily loss limit", T0)
        clock.advance()
        assert journal.set_halt("operator") == HaltState("daily loss limit", T0)
    with Journal.open(path, now=clock) as journal:
        assert journal.halt_state() == HaltState("daily loss limit", T0)
        assert journal.clear_halt() == HaltState("daily loss limit", T0)
        assert journal.halt_state() is None and journal.clear_halt() is None


def test_a_halt_reason_is_kept_on_one_line(journal):
    # `orch halt` takes free text; `orch status` prints the reason on its one status line.
    assert journal.set_halt("fat finger\non  AAPL\r\n").reason == "fat finger on AAPL"
    journal.clear_halt()
    assert journal.set_halt(" \n ").reason == "halted"


def test_values_keep_decimals_exact(journal):
    journal.set_value("pnl_baseline:2026-11-24", {"equity": Decimal("100000.10"), "currency": "USD"})
    journal.set_value("pnl_baseline:2026-11-24", {"equity": Decimal("100000.25"), "currency": "USD"})
    assert journal.get_value("pnl_baseline:2026-11-24") == {"equity": "100000.25", "currency": "USD"}
    assert journal.get_value("missing", 0) == 0


# ------------------------------------------------------------------------------------------ trio


async def test_calls_can_run_in_a_worker_thread_from_trio(journal):
    entry = await journal.in_thread(journal.record_intent, "alpaca", buy(), mode="paper")
    assert (await journal.in_thread(journal.get, entry.client_order_id)) == entry
