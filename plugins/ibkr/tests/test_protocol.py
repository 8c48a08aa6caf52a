"""Message encoding and decoding against byte layouts of IB's protocol (API server version 178): the
vectors in shared/protocols/ibkr.md §7, which ib_async 2.1.0 sends or accepts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orch.errors import (BrokerUnavailable, InsufficientFunds, OrderNotFound, OrderRejected, PermissionDenied,
                         ProtocolError, RateLimited, UnknownInstrument)
from orch_ibkr import protocol
from orch_ibkr.protocol import Contract, FrameBuffer, IbOrder
from orch_ibkr.sim import wire


def msg(text: str) -> bytes:
    """``a|b|c|`` as a framed message (each field NUL-terminated)."""
    assert text.endswith("|")
    return protocol.encode(*text[:-1].split("|"))


def fields_of(data: bytes) -> list[str]:
    [fields] = FrameBuffer().feed(data)
    return fields


AAPL = Contract(symbol="AAPL", exchange="SMART", currency="USD")
AAPL_QUALIFIED = Contract(symbol="AAPL", con_id=265598, exchange="SMART", primary_exchange="NASDAQ", currency="USD",
                          local_symbol="AAPL", trading_class="NMS")


# ------------------------------------------------------------------------------------------ handshake


def test_hello_bytes():
    assert protocol.hello(157, 178) == bytes.fromhex("415049000000000976313537 2e2e313738".replace(" ", ""))
    assert protocol.hello() == b"API\0\x00\x00\x00\x09v176..178"


def test_server_hello_reply_bytes_and_parse():
    raw = bytes.fromhex("0000001a3137380032303235303130312031323a30303a303020555443 00".replace(" ", ""))
    assert wire.hello_reply(178, "20250101 12:00:00 UTC") == raw
    assert protocol.parse_hello_reply(fields_of(raw)) == (178, "20250101 12:00:00 UTC")
    with pytest.raises(ProtocolError):
        protocol.parse_hello_reply(["178"])


def test_version_range():
    assert protocol.parse_version_range("v157..178") == (157, 178)
    assert protocol.parse_version_range("v100..187 +PACEAPI") == (100, 187)
    with pytest.raises(ValueError):
        protocol.parse_version_range("API")


def test_start_api_next_valid_id_managed_accounts():
    assert protocol.start_api(1) == bytes.fromhex("000000083731003200310000")
    assert wire.next_valid_id(1) == bytes.fromhex("00000006390031003100")
    assert wire.managed_accounts(["DU1234567"]) == bytes.fromhex("0000000f3135003100445531323334353637 00".replace(" ", ""))
    notice = wire.error(-1, 2104, "Market data farm connection is OK:usfarm")
    assert int.from_bytes(notice[:4], "big") == 54
    assert notice == msg("4|2|-1|2104|Market data farm connection is OK:usfarm||")


# ------------------------------------------------------------------------------------------ framing


def test_frames_split_anywhere_and_batched():
    data = wire.next_valid_id(7) + wire.managed_accounts(["DU1", "DU2"])
    buffer = FrameBuffer()
    got = []
    for i in range(len(data)):
        got += buffer.feed(data[i:i + 1])
    assert got == [["9", "1", "7"], ["15", "1", "DU1,DU2"]]
    assert protocol.frame_count(data) == 2
    assert protocol.frame_count(protocol.hello()) == 1


def test_oversized_or_unterminated_frames_are_protocol_errors():
    with pytest.raises(ProtocolError, match="exceeds"):
        FrameBuffer().feed(b"\x7f\xff\xff\xff")
    with pytest.raises(ProtocolError, match="NUL"):
        FrameBuffer().feed(b"\x00\x00\x00\x0212")


# ------------------------------------------------------------------------------------------ requests


def test_startup_requests():
    assert protocol.req_positions() == bytes.fromhex("000000053631003100")
    assert protocol.req_open_orders() == msg("5|1|")
    assert protocol.req_completed_orders() == msg("99|0|")
    executions = protocol.req_executions(2)
    assert executions == msg("7|3|2|0|||||||") and int.from_bytes(executions[:4], "big") == 14
    assert protocol.req_current_time() == msg("49|1|")
    assert protocol.req_market_data_type(3) == msg("59|1|3|")
    assert protocol.cancel_order(6) == msg("4|1|6||")


def test_req_contract_details_layout():
    data = protocol.req_contract_details(4, AAPL)
    assert data == msg("9|8|4|0|AAPL|STK||0.0|||SMART||USD|||0||||")
    assert int.from_bytes(data[:4], "big") == 42


def test_req_mkt_data_layouts():
    streaming = protocol.req_mkt_data(5, AAPL_QUALIFIED, snapshot=False)
    assert streaming == msg("1|11|5|265598|AAPL|STK||0.0|||SMART|NASDAQ|USD|AAPL|NMS|0||0|0||")
    assert int.from_bytes(streaming[:4], "big") == 64
    snapshot = protocol.req_mkt_data(42, Contract(symbol="AAPL", con_id=265598), generic_ticks="233,236")
    assert snapshot == msg("1|11|42|265598|AAPL|STK||0.0|||SMART||USD|||0|233,236|1|0||")


def test_req_account_summary_layout():
    assert protocol.req_account_summary(3, ["AccountType", "NetLiquidation"]) == \
        msg("62|1|3|All|AccountType,NetLiquidation|")


LMT_VECTOR = ("3|6|265598|AAPL|STK||0.0|||SMART|NASDAQ|USD|AAPL|NMS|||BUY|10|LMT|150.0|||||O|0||1|0|0|0|0|0|0|0||"
              "0.0|||||||0||-1|0|||0|||0|0||0||||||0|||||0|||||||||||0|||0|0|||0||0|0|0|0|||||||0|||||||||0|0|0|0"
              "|||0|||")


def test_place_order_limit_matches_ib_async_bytes():
    order = IbOrder(action="BUY", total_quantity=Decimal(10), order_type="LMT", lmt_price=Decimal("150"), tif="")
    data = protocol.place_order(6, AAPL_QUALIFIED, order)
    assert data == msg(LMT_VECTOR)
    assert int.from_bytes(data[:4], "big") == 203
    assert len(protocol.place_order_fields(6, AAPL_QUALIFIED, order)) == 114
    # Below 177 faProfile sits after faPercentage: one more field, everything after shifted.
    old = protocol.place_order_fields(6, AAPL_QUALIFIED, order, server_version=176)
    assert len(old) == 115 and old[42] == ""


@pytest.mark.parametrize(("order", "positions"), [
    (IbOrder(action="BUY", total_quantity=Decimal(5), order_type="MKT"), {17: "5", 18: "MKT", 19: ""}),
    (IbOrder(action="SELL", total_quantity=Decimal(5), order_type="STP", aux_price=Decimal(180)),
     {16: "SELL", 18: "STP", 19: "", 20: "180.0"}),
    (IbOrder(action="SELL", total_quantity=Decimal(5), order_type="STP LMT", lmt_price=Decimal(179),
             aux_price=Decimal(180)), {18: "STP LMT", 19: "179.0", 20: "180.0"}),
    (IbOrder(action="SELL", total_quantity=Decimal(5), order_type="TRAIL", trailing_percent=Decimal("1.5")),
     {18: "TRAIL", 20: "", 69: "1.5"}),
    (IbOrder(action="BUY", total_quantity=Decimal(5), order_type="LMT", lmt_price=Decimal(140), transmit=False),
     {27: "0", 28: "0"}),
    (IbOrder(action="SELL", total_quantity=Decimal(5), order_type="STP", aux_price=Decimal(140), parent_id=10,
             order_ref="orch-1-sl", tif="GTC"), {21: "GTC", 26: "orch-1-sl", 27: "1", 28: "10"}),
])
def test_place_order_variants(order, positions):
    fields = protocol.place_order_fields(7, AAPL_QUALIFIED, order)
    assert len(fields) == 114
    for index, value in positions.items():
        assert fields[index] == value, index
    parsed = protocol.parse_place_order(fields)
    assert parsed.order_id == 7 and parsed.contract.con_id == 265598
    assert parsed.order == order


# ------------------------------------------------------------------------------------------ replies


def test_position_reply_layout():
    contract = Contract(symbol="AAPL", con_id=265598, exchange="NASDAQ", currency="USD", local_symbol="AAPL",
                        trading_class="NMS")
    data = wire.position("DU1234567", contract, Decimal(10), Decimal("150.25"))
    assert data == msg("61|3|DU1234567|265598|AAPL|STK||0.0|||NASDAQ|USD|AAPL|NMS|10|150.25|")
    assert int.from_bytes(data[:4], "big") == 68
    row = protocol.parse_position(fields_of(data))
    assert (row.account, row.contract.con_id, row.position, row.avg_cost) == ("DU1234567", 265598, 10,
                                                                              Decimal("150.25"))


def test_account_summary_rows():
    row = protocol.parse_account_summary(fields_of(msg("63|1|3|DU1234567|NetLiquidation|100000.00|USD|")))
    assert (row.req_id, row.tag, row.value, row.currency) == (3, "NetLiquidation", "100000.00", "USD")
    assert wire.account_summary(3, "DU1234567", "AccountType", "INDIVIDUAL", "") == \
        msg("63|1|3|DU1234567|AccountType|INDIVIDUAL||")


# The notes' vector lacks the empty ``right`` field between strike and exchange; ib_async's decoder
# (contractDetails) reads right there, so it is restored here.
CONTRACT_DATA = ("10|4|AAPL|STK||0||SMART|USD|AAPL|NMS|NMS|265598|0.01||ACTIVETIM,LMT|SMART,NASDAQ|1|0|APPLE INC|"
                 "NASDAQ||Technology|Computers|Computers|US/Eastern|||||1|ISIN|US0378331005|1|||26,26,26||COMMON|"
                 "0.0001|0.0001|100|")


def test_contract_data_parse():
    req_id, details = protocol.parse_contract_data(fields_of(msg(CONTRACT_DATA)))
    assert req_id == 4 and details.contract.con_id == 265598 and details.min_tick == Decimal("0.01")
    assert details.contract.primary_exchange == "NASDAQ" and details.long_name == "APPLE INC"
    # The fake's own contractData decodes to the same contract.
    again = protocol.parse_contract_data(fields_of(wire.contract_data(9, details)))[1]
    assert again.contract == details.contract


def test_order_status_vector():
    data = wire.order_status(6, "PreSubmitted", Decimal(0), Decimal(10), None, 1000, 0, None, 1)
    assert data == msg("3|6|PreSubmitted|0|10|0|1000|0|0|1||0|")
    status = protocol.parse_order_status(fields_of(msg("3|7|Filled|5|0|189.51|1001|0|189.51|1||0|")))
    assert status.status == "Filled" and status.filled == 5 and status.remaining == 0
    assert status.avg_fill_price == Decimal("189.51") and status.perm_id == 1001 and status.client_id == 1


def test_open_order_layout_and_parse():
    order = IbOrder(action="BUY", total_quantity=Decimal(10), order_type="LMT", lmt_price=Decimal(150), tif="DAY",
                    account="DU1234567", order_ref="orch-9", parent_id=0)
    contract = Contract(symbol="AAPL", con_id=265598, exchange="SMART", currency="USD", local_symbol="AAPL",
                        trading_class="NMS")
    fields = fields_of(wire.open_order(6, contract, order, client_id=1, perm_id=1000, status="PreSubmitted"))
    assert len(fields) == 127
    assert fields[:17] == "5|6|265598|AAPL|STK||0.0|||SMART|USD|AAPL|NMS|BUY|10|LMT|150.0".split("|")
    assert (fields[20], fields[23], fields[24], fields[25], fields[41], fields[85]) == \
        ("DU1234567", "orch-9", "1", "1000", "-1", "PreSubmitted")
    parsed = protocol.parse_open_order(fields)
    assert (parsed.order_id, parsed.client_id, parsed.perm_id, parsed.status) == (6, 1, 1000, "PreSubmitted")
    assert parsed.order.order_ref == "orch-9" and parsed.order.lmt_price == Decimal(150)
    child = IbOrder(action="SELL", total_quantity=Decimal(10), order_type="STP", aux_price=Decimal(140),
                    parent_id=6)
    old = fields_of(wire.open_order(8, contract, child, client_id=1, perm_id=1002, status="PreSubmitted",
                                    server_version=176))
    assert len(old) == 128
    parsed = protocol.parse_open_order(old, server_version=176)
    assert parsed.order.parent_id == 6 and parsed.status == "PreSubmitted" and parsed.order.aux_price == 140


def test_open_order_conditional_blocks_are_skipped():
    contract = Contract(symbol="AAPL", con_id=265598)
    fields = fields_of(wire.open_order(6, contract, IbOrder(action="BUY", total_quantity=Decimal(1),
                                                            order_type="MKT"), client_id=1, perm_id=5,
                                       status="Submitted"))
    # An algo order: algoStrategy is followed by a count and that many tag/value pairs.
    with_algo = fields[:82] + ["Adaptive", "1", "adaptivePriority", "Normal"] + fields[83:]
    assert protocol.parse_open_order(with_algo).status == "Submitted"


def test_fill_vectors():
    ex = protocol.parse_execution(fields_of(msg(
        "11|-1|7|265598|AAPL|STK||0.0|||ISLAND|USD|AAPL|NMS|0000e0d5.6543a1b2.01.01|20250101 12:00:01 UTC|"
        "DU1234567|ISLAND|BOT|5|189.51|1001|1|0|5|189.51|||||2|0|")))
    assert (ex.req_id, ex.order_id, ex.exec_id, ex.side, ex.shares, ex.price, ex.cum_qty) == \
        (-1, 7, "0000e0d5.6543a1b2.01.01", "BOT", 5, Decimal("189.51"), 5)
    report = protocol.parse_commission(fields_of(msg(
        "59|1|0000e0d5.6543a1b2.01.01|1.0|USD|1.7976931348623157e+308|1.7976931348623157e+308||")))
    assert report.commission == Decimal("1.0") and report.currency == "USD" and report.realized_pnl is None
    ours = wire.exec_details(-1, 7, Contract(symbol="AAPL", con_id=265598, exchange="ISLAND"),
                             exec_id="x.1", time="20250101 12:00:01 UTC", account="DU1234567", exchange="ISLAND",
                             side="BOT", shares=Decimal(5), price=Decimal("189.51"), perm_id=1001, client_id=1,
                             cum_qty=Decimal(5), avg_price=Decimal("189.51"), order_ref="orch-7")
    assert len(fields_of(ours)) == 32 and protocol.parse_execution(fields_of(ours)).order_ref == "orch-7"


def test_ticks_vectors():
    raw = [msg("1|6|5|1|189.5|300|1|"), msg("2|6|5|0|300|"), msg("1|6|5|2|189.52|200|1|"),
           msg("1|6|5|4|189.51|100|0|"), msg("46|6|5|45|1735732800|")]
    ticks = [protocol.parse_tick(fields_of(r)) for r in raw]
    q = protocol.collect_ticks(ticks)
    assert (q.bid, q.ask, q.last, q.bid_size, q.timestamp, q.delayed) == \
        (Decimal("189.5"), Decimal("189.52"), Decimal("189.51"), 300, 1735732800, False)
    delayed = protocol.collect_ticks([protocol.parse_tick(fields_of(msg("1|6|5|66|10.5|3|0|"))),
                                      protocol.parse_tick(fields_of(msg("1|6|5|67|-1|0|0|")))])
    assert delayed.delayed and delayed.bid == Decimal("10.5") and delayed.ask is None


def test_error_parse_and_mapping():
    err = protocol.parse_error(fields_of(msg("4|2|6|202|Order Canceled - reason:||")))
    assert (err.req_id, err.code, err.message) == (6, 202, "Order Canceled - reason:")

    def mapped(code, text="x", req=1):
        return protocol.error_for(protocol.ErrorMsg(req, code, text))

    assert isinstance(mapped(200, "No security definition has been found for the request"), UnknownInstrument)
    rejected = mapped(201, "Order rejected - reason:price out of range")
    assert isinstance(rejected, OrderRejected) and rejected.reason.endswith("price out of range")
    assert rejected.broker_code == 201 and rejected.broker_message.startswith("Order rejected")
    assert isinstance(mapped(201, "Order rejected - reason:Insufficient buying power"), InsufficientFunds)
    limited = mapped(100)
    assert isinstance(limited, RateLimited) and limited.retry_after == 1.0
    for code in (354, 10089, 10168):
        assert isinstance(mapped(code), PermissionDenied) and "market_data_type" in str(mapped(code))
    for code in (502, 504, 1100, 326):
        assert isinstance(mapped(code), BrokerUnavailable)
    assert isinstance(mapped(10147), OrderNotFound)
    assert protocol.is_warning(2104) and protocol.is_warning(10167) and not protocol.is_warning(201)
