"""orch.sim: the shared simulation kit every broker simulator is built on.

A broker plugin's ``sim.py`` only translates its wire protocol onto these pieces:

* :mod:`~orch.sim.clock` – :class:`SimClock`: calendar time that moves with trio's clock and can be set
  (:data:`ALL_OPEN`, :data:`ALL_CLOSED`).
* :mod:`~orch.sim.sessions` – trading hours per market; :func:`is_open`.
* :mod:`~orch.sim.instruments` – what a symbol is (asset class, currency, tick, step, reference price).
* :mod:`~orch.sim.market` – :class:`MarketModel`: deterministic prices, quotes, bars, FX, forced sessions.
* :mod:`~orch.sim.engine` – :class:`Engine`: accounts, orders, fills, events (the matching engine).
* :mod:`~orch.sim.fees` – fee models.
* :mod:`~orch.sim.faults` – :class:`Faults`: latency, 5xx, 429/418, lost responses, websocket drops.
* :mod:`~orch.sim.asgi` – :class:`FaultMiddleware`, :class:`DropConnection`.
* :mod:`~orch.sim.spec` – :class:`SimulatorSpec` (what ``orch_simulator()`` returns), :func:`engine_factory`.
* :mod:`~orch.sim.runner` – :func:`start_simulator`, :func:`run_simulator_in_thread`,
  :func:`run_simulator_in_subprocess`.

Importing this package does not import hypercorn or starlette (the runner imports hypercorn when it
serves).
"""

from orch.sim.accounts import AccountState, BalanceState, PositionState, SimAccount
from orch.sim.asgi import DropConnection, FaultMiddleware
from orch.sim.clock import ALL_CLOSED, ALL_OPEN, US_PREMARKET, SimClock
from orch.sim.engine import Engine, EngineConfig
from orch.sim.faults import FaultPlan, Faults, RequestFault, StreamState
from orch.sim.fees import ByAssetClass, Fee, FlatFee, PercentFee, PerShareFee, SpreadFee, ZeroFee
from orch.sim.instruments import UNKNOWN_SYMBOL, AssetClass, SymbolInfo, UnknownSymbol, by_isin, classify
from orch.sim.market import Bar, MarketModel, SimQuote
from orch.sim.orders import EventKind, OrderEvent, OrderPreview, RejectCode, SimError, SimFill, SimOrder
from orch.sim.runner import (RunningSim, run_simulator_in_subprocess, run_simulator_in_thread,
                             start_simulator)
from orch.sim.sessions import SESSIONS, Session, is_open
from orch.sim.spec import SimulatorSpec, engine_factory

__all__ = [
    "ALL_CLOSED", "ALL_OPEN", "US_PREMARKET", "SESSIONS", "UNKNOWN_SYMBOL",
    "AccountState", "AssetClass", "BalanceState", "Bar", "ByAssetClass", "DropConnection", "Engine",
    "EngineConfig", "EventKind", "FaultMiddleware", "FaultPlan", "Faults", "Fee", "FlatFee", "MarketModel", "OrderEvent",
    "OrderPreview",
    "PercentFee", "PerShareFee", "PositionState", "RejectCode", "RequestFault", "RunningSim", "Session",
    "SimAccount", "SimClock", "SimError", "SimFill", "SimOrder", "SimQuote", "SimulatorSpec", "SpreadFee",
    "StreamState", "SymbolInfo", "UnknownSymbol", "ZeroFee", "by_isin", "classify", "engine_factory",
    "is_open", "run_simulator_in_subprocess", "run_simulator_in_thread", "start_simulator",
]
