"""The Binance Spot simulator: REST v3 with real HMAC signature and recvWindow checks, request weights with
Binance's headers and 429/418 escalation, market streams and the WebSocket API user data stream, on
loopback, built on :mod:`orch.sim`::

    from orch.sim.runner import run_simulator_in_thread
    from orch_binance.sim import SPEC, BinanceSim

    with run_simulator_in_thread(SPEC) as running:
        running.config                              # the brokers.binance section pointing at it
        BinanceSim.of(running.engine).options.weight_limit = 100
"""

from orch_binance.sim.app import DEFAULT_PORT, SPEC, build, config_for, error_response, make_engine
from orch_binance.sim.state import SIM_ACCOUNT, SIM_API_KEY, SIM_SECRET_KEY, BinanceSim, Options

__all__ = ["DEFAULT_PORT", "SIM_ACCOUNT", "SIM_API_KEY", "SIM_SECRET_KEY", "SPEC", "BinanceSim", "Options", "build",
           "config_for", "error_response", "make_engine"]
