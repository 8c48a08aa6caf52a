"""The Alpaca simulator: Trading API v2 (paper semantics), Market Data v2 REST, the market-data and
trade_updates websockets, on loopback, built on :mod:`orch.sim`.

Use it through the plugin's ``orch_simulator()`` hook or directly::

    from orch.sim.runner import run_simulator_in_thread
    from orch_alpaca.sim import SPEC, AlpacaSim

    with run_simulator_in_thread(SPEC) as running:
        running.config                          # the brokers.alpaca section pointing at it
        AlpacaSim.of(running.engine).counters   # requests, orders_created, per-endpoint counts
        running.faults.set(error_burst=1)       # orch.sim fault injection
"""

from orch_alpaca.sim.app import DEFAULT_PORT, SPEC, build, config_for, error_response, make_engine
from orch_alpaca.sim.state import SIM_ACCOUNT, SIM_KEY_ID, SIM_SECRET_KEY, AlpacaSim, ApiKey, Options

__all__ = ["DEFAULT_PORT", "SIM_ACCOUNT", "SIM_KEY_ID", "SIM_SECRET_KEY", "SPEC", "AlpacaSim", "ApiKey", "Options",
           "build", "config_for", "error_response", "make_engine"]
