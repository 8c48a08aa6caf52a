"""Stream decode rate: frames per second through each plugin's stream decoder (frame in, orch Quote or
Kline out), next to a bare decode of the same frames with nothing built from them.

    .venv/bin/python bench/stream_decode.py [-m FRAMES] [-r ROUNDS] [--json]

| decoder                                      | frames                                        | bare peer                          |
|----------------------------------------------|-----------------------------------------------|------------------------------------|
| Alpaca ``MarketDataSession`` (JSON)          | one ``q`` or ``t`` record a frame, as text    | ``json.loads(parse_float=Decimal)`` |
| Alpaca ``MarketDataSession`` (msgpack)       | the same records packed as the server packs   | ``msgpack.unpackb(timestamp=3)``   |
| Binance ``MarketStreamSession``              | bookTicker, trade, kline_1m in turn           | ``json.loads(parse_float=Decimal)`` |
| XTB ``QuoteSession``                         | ``tickPrices`` records (and a keepAlive in 20) | ``json.loads(parse_float=Decimal)`` |
| IBKR tick messages                           | TWS snapshot replies (10 messages a quote)    | length-prefix split + ``split(b"\\0")`` |

The IBKR plugin has no streaming quote session: its quotes are snapshots, so the decoder measured is the
same path a snapshot takes in the plugin (``FrameBuffer`` → the connection's message routing →
``collect_ticks`` → Quote), fed one framed message at a time. Sessions are put in their streaming state
first (auth and subscription frames are not timed). Decoders run one after the other, ROUNDS times, the
bare peer right after its decoder on the same frames; the figure is the median round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack

from orch.models import Instrument, Market, Quote
from orch.secret import Secret

BASE_MS = 1_795_526_400_000  # 2026-11-24, a fixed instant so runs see the same bytes
Decoder = Callable[[list[Any]], int]  # decodes every frame; returns how many items came out


def _json_bare(frames: list[Any]) -> int:
    for frame in frames:
        json.loads(frame, parse_float=Decimal)
    return 0


def _msgpack_bare(frames: list[Any]) -> int:
    for frame in frames:
        msgpack.unpackb(frame, timestamp=3)
    return 0


# ------------------------------------------------------------------------------------------- alpaca


def _alpaca_records(count: int) -> list[dict[str, Any]]:
    start = datetime.fromtimestamp(BASE_MS / 1000, timezone.utc)
    records = []
    for i in range(count):
        when = start + timedelta(microseconds=137 * i)
        if i % 4 == 3:
            records.append({"T": "t", "S": "AAPL", "i": 9000 + i, "x": "V", "p": 189.42, "s": 100, "t": when,
                            "c": ["@"], "z": "C"})
        else:
            records.append({"T": "q", "S": "AAPL", "bx": "V", "bp": 189.41 + (i % 7) / 100, "bs": 3, "ax": "V",
                            "ap": 189.45 + (i % 5) / 100, "as": 2, "t": when, "c": ["R"], "z": "C"})
    return records


def _alpaca_session() -> Any:
    from orch_alpaca.protocol import Credentials
    from orch_alpaca.streams import MarketDataSession

    credentials = Credentials(key_id=Secret("BENCHKEY"), secret_key=Secret("BENCHSECRET"))
    session = MarketDataSession(credentials, {"AAPL": Instrument("AAPL", Market.US_STOCKS)})
    session.receive('[{"T":"success","msg":"connected"}]')
    session.receive('[{"T":"success","msg":"authenticated"}]')
    session.receive('[{"T":"subscription","trades":["AAPL"],"quotes":["AAPL"],"bars":[]}]')
    assert session.ready
    return session


def _session_decoder(make: Callable[[], Any]) -> Decoder:
    def decode(frames: list[Any]) -> int:
        session = make()
        out = 0
        for frame in frames:
            out += len(session.receive(frame).items)
        return out

    return decode


def alpaca_json_frames(count: int) -> list[str]:
    def iso(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "t": record["t"].isoformat().replace("+00:00", "Z")}

    return [json.dumps([iso(r)], separators=(",", ":")) for r in _alpaca_records(count)]


def alpaca_msgpack_frames(count: int) -> list[bytes]:
    return [msgpack.packb([r], datetime=True) for r in _alpaca_records(count)]


# ------------------------------------------------------------------------------------------- binance


def binance_frames(count: int) -> list[str]:
    frames = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            data: dict[str, Any] = {"u": 400900000 + i, "s": "BTCUSDT", "b": "65000.10000000", "B": "1.50000000",
                                    "a": "65000.20000000", "A": "2.00000000"}
            name = "btcusdt@bookTicker"
        elif kind == 1:
            data = {"e": "trade", "E": BASE_MS + i, "s": "BTCUSDT", "t": i, "p": "65000.15000000",
                    "q": "0.01000000", "T": BASE_MS + i, "m": False, "M": True}
            name = "btcusdt@trade"
        else:
            data = {"e": "kline", "E": BASE_MS + i, "s": "BTCUSDT", "k": {
                "t": BASE_MS, "T": BASE_MS + 59999, "s": "BTCUSDT", "i": "1m", "f": 1, "L": i, "o": "65000.00000000",
                "c": "65000.15000000", "h": "65001.00000000", "l": "64999.00000000", "v": "12.00000000", "n": i,
                "x": False, "q": "780000.00000000", "V": "0", "Q": "0", "B": "0"}}
            name = "btcusdt@kline_1m"
        frames.append(json.dumps({"stream": name, "data": data}, separators=(",", ":")))
    return frames


def _binance_session() -> Any:
    from orch_binance.streams import MarketStreamSession

    session = MarketStreamSession({"BTCUSDT": Instrument("BTCUSDT", Market.CRYPTO, currency="USDT")},
                                  intervals=["1m"])
    session.receive('{"result":null,"id":1}')
    return session


# ------------------------------------------------------------------------------------------- xtb


def xtb_frames(count: int) -> list[str]:
    frames = []
    for i in range(count):
        if i % 20 == 19:
            frames.append(json.dumps({"command": "keepAlive", "data": {"timestamp": BASE_MS + i}}))
            continue
        bid = Decimal("1.08412") + Decimal(i % 9) / 100000
        frames.append(json.dumps({"command": "tickPrices", "data": {
            "ask": float(bid + Decimal("0.00008")), "askVolume": 1000000, "bid": float(bid), "bidVolume": 1000000,
            "high": float(bid + Decimal("0.00008")), "low": float(bid), "level": 0, "spreadRaw": 0.00008,
            "spreadTable": 0.8, "symbol": "EURUSD", "timestamp": BASE_MS + i, "quoteId": 2}},
            separators=(",", ":")))
    return frames


def _xtb_session() -> Any:
    from orch_xtb.streams import QuoteSession

    session = QuoteSession("bench-stream-session", {"EURUSD": Instrument("EUR/USD", Market.FOREX, currency="USD")})
    session.start()
    return session


# ------------------------------------------------------------------------------------------- ibkr

IBKR_PER_QUOTE = 10


def ibkr_frames(count: int) -> list[bytes]:
    """Framed TWS messages, as the fake TWS answers a snapshot request: 10 messages per quote."""
    from orch_ibkr.sim import wire

    frames: list[bytes] = []
    for q in range(max(1, count // IBKR_PER_QUOTE)):
        req_id = 1000 + q
        bid = Decimal("189.41") + Decimal(q % 7) / 100
        ask, last = bid + Decimal("0.04"), bid + Decimal("0.02")
        frames += [wire.market_data_type(req_id, 1), wire.tick_req_params(req_id, Decimal("0.01")),
                   wire.tick_price(req_id, 1, bid, Decimal(300), 1), wire.tick_size(req_id, 0, Decimal(300)),
                   wire.tick_price(req_id, 2, ask, Decimal(200), 1), wire.tick_size(req_id, 3, Decimal(200)),
                   wire.tick_price(req_id, 4, last, Decimal(100), 0), wire.tick_size(req_id, 5, Decimal(100)),
                   wire.tick_string(req_id, 45, str(BASE_MS // 1000 + q)), wire.tick_snapshot_end(req_id)]
    return frames


def _ibkr_decode(frames: list[bytes]) -> int:
    """The plugin's snapshot path: FrameBuffer, MessageHandlers routing to the pending request, then the
    Quote built as IbkrConnection.quote builds it."""
    from orch_ibkr import protocol
    from orch_ibkr.connection import Pending
    from orch_ibkr.dispatch import MessageHandlers

    instrument = Instrument("AAPL", Market.US_STOCKS)

    class Router(MessageHandlers):
        broker = "ibkr"

        def __init__(self) -> None:
            self._pending: dict[int, Pending] = {}

    router = Router()
    buffer = protocol.FrameBuffer()
    quotes = 0
    pending: Pending | None = None
    for frame in frames:
        for fields in buffer.feed(frame):
            if pending is None:
                pending = Pending("bench snapshot")
                pending.req_id = protocol.req_id_of(fields) or 0
                router._pending[pending.req_id] = pending
            router._handle(fields)
            if pending.done.is_set():
                ticks = protocol.collect_ticks(pending.items, pending.data_type)
                stamp = datetime.fromtimestamp(ticks.timestamp, timezone.utc) if ticks.timestamp else None
                Quote(broker="ibkr", instrument=instrument, timestamp=stamp, bid=ticks.bid, ask=ticks.ask,
                      bid_size=ticks.bid_size, ask_size=ticks.ask_size, last=ticks.last, delayed=ticks.delayed)
                router._pending.pop(pending.req_id, None)
                pending = None
                quotes += 1
    return quotes


def _ibkr_bare(frames: list[bytes]) -> int:
    for frame in frames:
        (size,) = struct.unpack(">I", frame[:4])
        frame[4:4 + size].decode("ascii").split("\0")
    return 0


# ------------------------------------------------------------------------------------------- table

# label, frames(count), orch decoder, bare peer label, bare peer
DECODERS: list[tuple[str, Callable[[int], list[Any]], Decoder, str, Decoder]] = [
    ("Alpaca MarketDataSession (JSON)", alpaca_json_frames, _session_decoder(_alpaca_session),
     "json.loads(parse_float=Decimal)", _json_bare),
    ("Alpaca MarketDataSession (msgpack)", alpaca_msgpack_frames, _session_decoder(_alpaca_session),
     "msgpack.unpackb", _msgpack_bare),
    ("Binance MarketStreamSession", binance_frames, _session_decoder(_binance_session),
     "json.loads(parse_float=Decimal)", _json_bare),
    ("XTB QuoteSession", xtb_frames, _session_decoder(_xtb_session), "json.loads(parse_float=Decimal)", _json_bare),
    ("IBKR tick messages (snapshot path)", ibkr_frames, _ibkr_decode, "struct + split(b'\\0')", _ibkr_bare),
]


def measure(frames: int, rounds: int) -> list[dict[str, Any]]:
    """One row per decoder: orch's and the bare peer's frames per second (median round) and their ratio;
    ``items`` is how many Quotes/Klines one pass produced (a decoder that silently drops frames shows)."""
    results = []
    for label, make_frames, decode, peer_label, bare in DECODERS:
        data = make_frames(frames)
        items = decode(data)  # warm-up, and proof the decoder produces something
        if items == 0:
            raise SystemExit(f"{label}: the decoder produced nothing from {len(data)} frames")
        orch_rates, bare_rates = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            decode(data)
            orch_rates.append(len(data) / (time.perf_counter() - start))
            start = time.perf_counter()
            bare(data)
            bare_rates.append(len(data) / (time.perf_counter() - start))
        orch_rate, bare_rate = statistics.median(orch_rates), statistics.median(bare_rates)
        results.append({"decoder": label, "frames": len(data), "items": items, "frames_per_s": round(orch_rate),
                        "peer": peer_label, "peer_frames_per_s": round(bare_rate),
                        "vs_peer": round(orch_rate / bare_rate, 2)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--frames", type=int, default=30_000, help="frames per decoder per round")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    rows = measure(args.frames, args.rounds)
    if args.json:
        print(json.dumps({"frames": args.frames, "rounds": args.rounds, "python": sys.version.split()[0],
                          "rows": rows}, indent=2))
        return
    print(f"stream frames decoded, {args.frames} x {args.rounds} rounds (Python {sys.version.split()[0]})")
    width = max(len(r["decoder"]) for r in rows)
    peer_width = max(len(r["peer"]) for r in rows)
    print(f"{'decoder'.ljust(width)}  frames/s  {'bare peer'.ljust(peer_width)}  frames/s  vs peer")
    for r in rows:
        print(f"{r['decoder'].ljust(width)}  {r['frames_per_s']:8d}  {r['peer'].ljust(peer_width)}  "
              f"{r['peer_frames_per_s']:8d}  {r['vs_peer']:6.2f}x")


if __name__ == "__main__":
    main()
