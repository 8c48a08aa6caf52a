"""The Trade Republic simulator: web login v2 with app approval or authenticator code, session
cookies and refresh, and the websocket (connect, sub/unsub, A/D/C/E, echo) with ticker, instrument,
neonSearch, compactPortfolioByType, cash, availableCash, orders, simpleCreateOrder and cancelOrder,
on :mod:`orch.sim`'s engine."""

from orch_trade_republic.sim.app import DEFAULT_PORT, SPEC, build, config_for, error_response, make_engine
from orch_trade_republic.sim.state import (AUTHENTICATOR_CODE, SIM_PHONE, SIM_PIN, SIM_SEC_ACC, Options,
                                           TradeRepublicSim)

__all__ = ["AUTHENTICATOR_CODE", "DEFAULT_PORT", "SIM_PHONE", "SIM_PIN", "SIM_SEC_ACC", "SPEC", "Options",
           "TradeRepublicSim", "build", "config_for", "error_response", "make_engine"]
