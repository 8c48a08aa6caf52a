"""Market Data REST: latest quotes/trades/bars, bars and snapshots for stocks (``/v2/stocks``) and crypto
(``/v1beta3/crypto/us``), priced by the engine's market model. Stock data needs a key; crypto data may be
anonymous, as at Alpaca."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.routing import Route

from orch.sim.instruments import SymbolInfo, UnknownSymbol

from orch_alpaca.sim import errors, wire
from orch_alpaca.sim.http import DATA, Call, route
from orch_alpaca.sim.state import AlpacaSim
from orch_alpaca.sim.trading import parse_int, parse_when

FEEDS = ("iex", "sip", "delayed_sip", "otc", "boats", "overnight")
_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNIT_SECONDS = {"Min": 60, "T": 60, "Hour": 3600, "H": 3600, "Day": 86400, "D": 86400, "Week": 604800,
                 "W": 604800, "Month": 2592000, "M": 2592000}
MAX_BARS = 10_000


def _feed(call: Call) -> str:
    feed = (call.query.get("feed") or "iex").lower()
    if feed not in FEEDS:
        raise errors.AlpacaError(400, None, f"invalid feed: {call.query.get('feed')}")
    return feed


def _symbols(call: Call, *, crypto: bool) -> list[tuple[str, SymbolInfo | None]]:
    """(symbol as asked, asset or None when unknown or of the other kind) for ``symbols=``."""
    raw = call.query.get("symbols") or ""
    names = [s.strip() for s in raw.split(",") if s.strip()]
    if not names:
        raise errors.AlpacaError(400, None, "missing symbols")
    return [(name, _lookup(call.sim, name, crypto=crypto)) for name in names]


def _lookup(sim: AlpacaSim, name: str, *, crypto: bool) -> SymbolInfo | None:
    if crypto and "/" not in name:
        return None  # crypto market data names pairs with the slash only
    try:
        info = sim.listing.resolve(name)
    except UnknownSymbol:
        return None
    return info if wire.is_crypto(info) == crypto else None


def _latest_quote(sim: AlpacaSim, info: SymbolInfo) -> dict[str, Any]:
    return wire.quote_record(sim.engine.quote(info.symbol), crypto=wire.is_crypto(info))


def _latest_trade(sim: AlpacaSim, info: SymbolInfo) -> dict[str, Any]:
    quote = sim.engine.quote(info.symbol)
    step = sim.engine.market.step_index(quote.timestamp)
    return wire.trade_record(quote.last, quote.last_size, quote.timestamp, step, crypto=wire.is_crypto(info))


def _bars(sim: AlpacaSim, info: SymbolInfo, seconds: int, start: datetime, end: datetime,
          limit: int) -> list[dict[str, Any]]:
    count = min(limit, int((end - start).total_seconds() // seconds) + 1)
    if count <= 0:
        return []
    first = end - timedelta(seconds=seconds * (count - 1))
    first = max(first, start)
    aligned = datetime.fromtimestamp(int(first.timestamp()) // seconds * seconds, tz=timezone.utc)
    bars = sim.engine.market.bars(info.symbol, aligned, end, seconds, samples=min(30, max(1, seconds)))
    return [wire.bar_record(bar) for bar in bars[-limit:]]


def _latest_bar(sim: AlpacaSim, info: SymbolInfo) -> dict[str, Any]:
    now = sim.now()
    start = datetime.fromtimestamp(int(now.timestamp()) // 60 * 60 - 60, tz=timezone.utc)
    bars = sim.engine.market.bars(info.symbol, start, start + timedelta(seconds=60), 60, samples=10)
    return wire.bar_record(bars[-1])


def _timeframe(call: Call) -> int:
    text = call.query.get("timeframe") or ""
    match = _TIMEFRAME.match(text)
    if not match:
        raise errors.AlpacaError(400, None, f"invalid timeframe: {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _range(call: Call, seconds: int) -> tuple[datetime, datetime, int]:
    now = call.sim.now()
    end = parse_when(call.query.get("end"), "end") or now
    end = min(end, now)
    limit = parse_int(call.query.get("limit"), "limit", 1000)
    if not 1 <= limit <= MAX_BARS:
        raise errors.AlpacaError(400, None, f"invalid limit: must be between 1 and {MAX_BARS}")
    start = parse_when(call.query.get("start"), "start") or (end - timedelta(seconds=seconds * min(limit, 100)))
    return start, end, limit


def _snapshot(sim: AlpacaSim, info: SymbolInfo) -> dict[str, Any]:
    now = sim.now()
    day_start = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    daily = sim.engine.market.bars(info.symbol, day_start - timedelta(days=1), day_start + timedelta(days=1),
                                   86400, samples=24)
    return {"latestTrade": _latest_trade(sim, info), "latestQuote": _latest_quote(sim, info),
            "minuteBar": _latest_bar(sim, info), "dailyBar": wire.bar_record(daily[-1]),
            "prevDailyBar": wire.bar_record(daily[0])}


# ------------------------------------------------------------------------------------- handlers


def _multi(kind: str, build, *, crypto: bool):
    """``GET …/latest/{kind}?symbols=A,B`` → ``{kind: {SYM: record}}``; unknown symbols are left out."""

    async def handler(call: Call) -> Any:
        if not crypto:
            _feed(call)
        records = {name: build(call.sim, info) for name, info in _symbols(call, crypto=crypto) if info}
        return wire.jsonable({kind: records})

    return handler


def _single(kind: str, build):
    """``GET /v2/stocks/{symbol}/{kind}/latest`` → ``{"symbol": S, kind: record}``."""

    async def handler(call: Call) -> Any:
        _feed(call)
        name = call.request.path_params["symbol"]
        info = _lookup(call.sim, name, crypto=False)
        if info is None:
            raise errors.AlpacaError(404, None, f"no {kind} found for {name}")
        return wire.jsonable({"symbol": name, kind: build(call.sim, info)})

    return handler


def _bars_handler(*, crypto: bool, single: bool = False):
    async def handler(call: Call) -> Any:
        if not crypto:
            _feed(call)
        seconds = _timeframe(call)
        start, end, limit = _range(call, seconds)
        if single:
            name = call.request.path_params["symbol"]
            info = _lookup(call.sim, name, crypto=False)
            bars = _bars(call.sim, info, seconds, start, end, limit) if info else []
            return wire.jsonable({"symbol": name, "bars": bars, "next_page_token": None})
        result = {name: _bars(call.sim, info, seconds, start, end, limit)
                  for name, info in _symbols(call, crypto=crypto) if info}
        return wire.jsonable({"bars": result, "next_page_token": None})

    return handler


def _snapshots(*, crypto: bool):
    async def handler(call: Call) -> Any:
        if not crypto:
            _feed(call)
        result = {name: _snapshot(call.sim, info) for name, info in _symbols(call, crypto=crypto) if info}
        return wire.jsonable({"snapshots": result} if crypto else result)

    return handler


async def stock_snapshot(call: Call) -> Any:
    _feed(call)
    name = call.request.path_params["symbol"]
    info = _lookup(call.sim, name, crypto=False)
    if info is None:
        raise errors.AlpacaError(404, None, f"no snapshot found for {name}")
    return wire.jsonable({"symbol": name, **_snapshot(call.sim, info)})


def _orderbook(sim: AlpacaSim, info: SymbolInfo) -> dict[str, Any]:
    quote = sim.engine.quote(info.symbol)
    return {"t": quote.timestamp, "b": [{"p": wire.num(quote.bid), "s": wire.num(quote.bid_size)}],
            "a": [{"p": wire.num(quote.ask), "s": wire.num(quote.ask_size)}]}


def routes(sim: AlpacaSim) -> list[Route]:
    stocks = "/v2/stocks"
    crypto = "/v1beta3/crypto/us"

    def data(path: str, handler: Any, *, auth: str = "required") -> Route:
        return route(sim, path, "GET", handler, api=DATA, auth=auth)

    return [
        data(f"{stocks}/quotes/latest", _multi("quotes", _latest_quote, crypto=False)),
        data(f"{stocks}/trades/latest", _multi("trades", _latest_trade, crypto=False)),
        data(f"{stocks}/bars/latest", _multi("bars", _latest_bar, crypto=False)),
        data(f"{stocks}/bars", _bars_handler(crypto=False)),
        data(f"{stocks}/snapshots", _snapshots(crypto=False)),
        data(f"{stocks}/{{symbol}}/quotes/latest", _single("quote", _latest_quote)),
        data(f"{stocks}/{{symbol}}/trades/latest", _single("trade", _latest_trade)),
        data(f"{stocks}/{{symbol}}/bars/latest", _single("bar", _latest_bar)),
        data(f"{stocks}/{{symbol}}/bars", _bars_handler(crypto=False, single=True)),
        data(f"{stocks}/{{symbol}}/snapshot", stock_snapshot),
        data(f"{crypto}/latest/quotes", _multi("quotes", _latest_quote, crypto=True), auth="optional"),
        data(f"{crypto}/latest/trades", _multi("trades", _latest_trade, crypto=True), auth="optional"),
        data(f"{crypto}/latest/bars", _multi("bars", _latest_bar, crypto=True), auth="optional"),
        data(f"{crypto}/latest/orderbooks", _multi("orderbooks", _orderbook, crypto=True), auth="optional"),
        data(f"{crypto}/bars", _bars_handler(crypto=True), auth="optional"),
        data(f"{crypto}/snapshots", _snapshots(crypto=True), auth="optional"),
    ]
