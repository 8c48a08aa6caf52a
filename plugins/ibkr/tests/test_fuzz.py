"""Fuzzing the TWS protocol's sans-IO side: framing, the handshake reply, every incoming-message parser and
the dispatch that routes messages to requests and the order book. Whatever TWS (or a corrupt socket)
sends gives a result or an orch error with one readable line, never a KeyError/IndexError/ValueError
traceback: the reader runs in the orchestrator's nursery, so one escaping exception would stop it.

Seeds are the messages the fake TWS sends (orch_ibkr.sim.wire, in real TWS layouts) and the recorded
placeOrder vectors; mutations truncate them, drop, add or retype fields, and change the message id.
"""

from __future__ import annotations

import json
import logging
import struct
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
from hypothesis import given
from hypothesis import strategies as st

from orch.errors import OrchError
from orch.testing.fuzz import fuzz_settings, only_orch_errors
from orch_ibkr import protocol
from orch_ibkr.connection import IbkrConnection, Pending
from orch_ibkr.orders import OrderRecord
from orch_ibkr.protocol import Contract, ContractDetails, FrameBuffer, IbOrder, In
from orch_ibkr.sim import wire

HERE = Path(__file__).parent
AAPL = Contract(symbol="AAPL", con_id=265598, exchange="SMART", primary_exchange="NASDAQ", currency="USD",
                local_symbol="AAPL", trading_class="NMS")
LIMIT = IbOrder(action="BUY", total_quantity=Decimal(10), order_type="LMT", lmt_price=Decimal("150.25"),
                order_ref="orch-1")


def _fields(data: bytes) -> list[str]:
    [fields] = FrameBuffer().feed(data)
    return fields


SEED_FRAMES = [
    wire.hello_reply(178, "20261124 15:30:00 UTC"),
    wire.managed_accounts(["DU123456", "DU654321"]),
    wire.next_valid_id(7),
    wire.error(7, 201, "Order rejected - reason:insufficient buying power"),
    wire.error(-1, 2104, "Market data farm connection is OK:usfarm"),
    wire.error(-1, 1100, "Connectivity between IB and TWS has been lost"),
    wire.error(-1, 1101, "Connectivity restored - data lost"),
    wire.current_time(1_795_000_000),
    wire.contract_data(3, ContractDetails(contract=AAPL, min_tick=Decimal("0.01"), long_name="APPLE INC",
                                          order_types="LMT,MKT", valid_exchanges="SMART,NASDAQ")),
    wire.contract_data_end(3),
    wire.tick_price(4, protocol.BID, Decimal("150.10"), Decimal(300)),
    wire.tick_price(4, protocol.DELAYED_ASK, Decimal("150.20"), Decimal(200)),
    wire.tick_size(4, protocol.BID_SIZE, Decimal(300)),
    wire.tick_string(4, protocol.LAST_TIMESTAMP, "1795000000"),
    wire.market_data_type(4, 3),
    wire.tick_req_params(4, Decimal("0.01")),
    wire.tick_snapshot_end(4),
    wire.order_status(7, "Filled", Decimal(10), Decimal(0), Decimal("150.2"), 99, 0, Decimal("150.2"), 0),
    wire.open_order(7, AAPL, LIMIT, client_id=0, perm_id=99, status="Submitted"),
    wire.open_order_end(),
    wire.exec_details(5, 7, AAPL, exec_id="0001.01", time="20261124 15:30:01", account="DU123456",
                      exchange="NASDAQ", side="BOT", shares=Decimal(10), price=Decimal("150.2"), perm_id=99,
                      client_id=0, cum_qty=Decimal(10), avg_price=Decimal("150.2"), order_ref="orch-1"),
    wire.exec_details_end(5),
    wire.commission_report("0001.01", Decimal("1.00"), "USD"),
    wire.position("DU123456", AAPL, Decimal(10), Decimal("150.2")),
    wire.position_end(),
    wire.account_summary(6, "DU123456", "NetLiquidation", "100000.00", "USD"),
    wire.account_summary_end(6),
    wire.completed_orders_end(),
]
SEEDS = [_fields(frame) for frame in SEED_FRAMES]


def _place_order_seeds() -> list[list[str]]:
    data = json.loads((HERE / "vectors" / "orders.json").read_text())
    return [list(v["request"]["body"]) for v in data["vectors"] if v.get("call") == "place_order"]


PLACE_SEEDS = _place_order_seeds()

FIELD_JUNK = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["", "-1", "0", "1", "-0", "NaN", "sNaN", "Infinity", "-Infinite", "1e999999", "1E-999999",
                     "9" * 5000, "1.7976931348623157E308", protocol.UNSET_DECIMAL, "2147483648", "²", "--5",
                     "1_000", " 7 ", "0x10", "٣", "\ufffd", "Filled", "BOT", "3", "45", "88", "99999999999999"]),
    st.integers(-(2**65), 2**65).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)


@st.composite
def damaged(draw: st.DrawFn, seeds: list[list[str]]) -> list[str]:
    """A seed message with 1-4 damages: truncated, a field dropped, added, or replaced, the id changed."""
    fields = list(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("truncate", "drop", "add", "replace", "replace", "id")))
        at = draw(st.integers(0, max(len(fields) - 1, 0)))
        if op == "truncate":
            fields = fields[:at]
        elif op == "drop" and fields:
            del fields[at]
        elif op == "add":
            fields.insert(at, draw(FIELD_JUNK))
        elif op == "replace" and fields:
            fields[at] = draw(FIELD_JUNK)
        elif op == "id":
            new_id = draw(st.sampled_from([*(str(v) for k, v in vars(In).items() if k.isupper()), "0", "-1",
                                           "999", ""]))
            fields = [new_id, *fields[1:]] if fields else [new_id]
    return fields


MESSAGES = st.one_of(damaged(SEEDS), st.lists(FIELD_JUNK, max_size=12))

PARSERS = [
    protocol.parse_hello_reply, protocol.parse_contract_data, protocol.parse_error, protocol.parse_order_status,
    protocol.parse_open_order, lambda f: protocol.parse_open_order(f, 176), protocol.parse_execution,
    protocol.parse_commission, protocol.parse_position, protocol.parse_account_summary, protocol.parse_tick,
    protocol.req_id_of,
]


# ------------------------------------------------------------------------------------------ framing


@fuzz_settings(150)
@given(data=st.one_of(st.binary(max_size=96), st.lists(st.sampled_from(SEED_FRAMES), max_size=3).map(b"".join)),
       chunk=st.integers(1, 40), junk=st.binary(max_size=12))
def test_frame_buffer_reads_any_bytes(data: bytes, chunk: int, junk: bytes) -> None:
    buffer = FrameBuffer()
    stream = junk + data
    for start in range(0, len(stream), chunk):
        result = only_orch_errors(buffer.feed, stream[start:start + chunk])
        if isinstance(result, OrchError):
            return
        assert all(isinstance(message, list) for message in result)


@fuzz_settings(60)
@given(frames=st.lists(st.sampled_from(SEED_FRAMES), min_size=1, max_size=6), chunk=st.integers(1, 64))
def test_frame_buffer_splits_valid_frames_at_any_boundary(frames: list[bytes], chunk: int) -> None:
    stream = b"".join(frames)
    buffer = FrameBuffer()
    got: list[list[str]] = []
    for start in range(0, len(stream), chunk):
        got += buffer.feed(stream[start:start + chunk])
    assert got == [_fields(f) for f in frames]


@fuzz_settings(60)
@given(payload=st.binary(max_size=40))
def test_frame_payload_invalid_utf8_and_missing_nul(payload: bytes) -> None:
    result = only_orch_errors(FrameBuffer().feed, struct.pack(">I", len(payload)) + payload)
    if not isinstance(result, OrchError):
        assert len(result) == 1 and all(isinstance(f, str) for f in result[0])


def test_frame_length_beyond_limit_is_a_protocol_error() -> None:
    error = only_orch_errors(FrameBuffer().feed, struct.pack(">I", protocol.MAX_FRAME + 1))
    assert isinstance(error, OrchError) and "exceeds" in str(error)


# ------------------------------------------------------------------------------------------ parsers


@fuzz_settings(400)
@given(fields=MESSAGES, which=st.integers(0, len(PARSERS) - 1))
def test_incoming_parsers_raise_only_orch_errors(fields: list[str], which: int) -> None:
    only_orch_errors(PARSERS[which], fields)


@fuzz_settings(80)
@given(fields=damaged(PLACE_SEEDS), version=st.sampled_from([176, 178]))
def test_place_order_parser_raises_only_orch_errors(fields: list[str], version: int) -> None:
    only_orch_errors(protocol.parse_place_order, fields, version)


@fuzz_settings(100)
@given(ticks=st.lists(st.builds(protocol.Tick, req_id=st.just(4),
                                tick_type=st.sampled_from([0, 1, 2, 3, 4, 45, 66, 67, 68, 69, 70, 88, 7]),
                                value=FIELD_JUNK), max_size=6),
       data_type=st.integers(-2, 6))
def test_collect_ticks_raises_only_orch_errors(ticks: list[protocol.Tick], data_type: int) -> None:
    result = only_orch_errors(protocol.collect_ticks, ticks, data_type)
    if isinstance(result, protocol.QuoteTicks):
        for price in (result.bid, result.ask, result.last):
            assert price is None or price > 0
        if result.timestamp is not None:
            assert 0 <= result.timestamp <= protocol.LATEST_TIME


@fuzz_settings(60)
@given(req_id=st.integers(-2, 2**40), code=st.integers(-(2**31), 2**31), message=st.text(max_size=40),
       what=st.text(max_size=10))
def test_error_mapping_always_gives_an_orch_error(req_id: int, code: int, message: str, what: str) -> None:
    error = protocol.error_for(protocol.ErrorMsg(req_id, code, message), what=what)
    assert isinstance(error, OrchError)


@fuzz_settings(60)
@given(text=st.text(max_size=30))
def test_decimal_fields_give_a_number_none_or_an_orch_error(text: str) -> None:
    result = only_orch_errors(protocol.dec, text, "price")
    assert result is None or isinstance(result, (Decimal, OrchError))
    if isinstance(result, Decimal):
        assert result.is_finite()


# ------------------------------------------------------------------------------------------ dispatch


class _Nursery:
    def start_soon(self, fn: Any, *args: Any) -> None:
        self.started = getattr(self, "started", 0) + 1


def _connection() -> IbkrConnection:
    """The connection's message handling without a socket: every request kind pending, one order known."""
    conn = IbkrConnection.__new__(IbkrConnection)
    conn.broker = "ibkr"
    conn.logger = logging.getLogger("orch.test.ibkr.fuzz")
    conn.endpoint = SimpleNamespace(client_id=0)
    conn.server_version = protocol.MAX_VERSION
    conn._nursery = _Nursery()
    conn._wall_clock = lambda: 1_795_000_000.0
    conn._next_id = 1
    conn.accounts = []
    conn.ib_link_ok = True
    conn.orders = {7: OrderRecord(order_id=7, contract=AAPL, ib=LIMIT)}
    conn.executions = {}
    conn._commissions = {}
    conn._subscribers = []
    conn._pending = {req_id: Pending(f"request {req_id}") for req_id in (3, 4, 5, 6, 7)}
    conn._unkeyed = {kind: Pending(kind) for kind in ("open_orders", "positions", "time", "completed")}
    return conn


@fuzz_settings(400)
@given(messages=st.lists(MESSAGES, min_size=1, max_size=4))
def test_dispatch_of_damaged_messages_raises_only_orch_errors(messages: list[list[str]]) -> None:
    conn = _connection()
    subscriber, updates = trio.open_memory_channel[Any](100)
    conn._subscribers.append(subscriber)
    for fields in messages:
        only_orch_errors(conn._handle, fields)
    # The book stays usable: every known order still converts to an orch Order.
    for record in conn.orders.values():
        record.to_order("ibkr")


def test_dispatch_of_the_seed_messages_is_clean() -> None:
    conn = _connection()
    for fields in SEEDS[1:]:  # the hello reply has no message id
        conn._handle(fields)
    assert conn.accounts == ["DU123456", "DU654321"]
    assert conn.orders[7].status == "Filled"
