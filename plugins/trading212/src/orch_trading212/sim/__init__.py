"""The Trading 212 simulator: Public API v0 on loopback, built on :mod:`orch.sim`.

Use it through the plugin's ``orch_simulator()`` hook or directly::

    from orch.sim.runner import run_simulator_in_thread
    from orch_trading212.sim import SPEC, Trading212Sim

    with run_simulator_in_thread(SPEC) as running:
        running.config                                   # the brokers.trading212 section pointing at it
        Trading212Sim.of(running.engine).counters        # requests, orders_created, per endpoint
"""

from orch_trading212.sim.app import DEFAULT_PORT, SPEC, build, config_for, error_response, make_engine
from orch_trading212.sim.state import LISTINGS, SIM_ACCOUNT, SIM_KEY, SIM_SECRET, Options, Trading212Sim

__all__ = ["DEFAULT_PORT", "LISTINGS", "SIM_ACCOUNT", "SIM_KEY", "SIM_SECRET", "SPEC", "Options", "Trading212Sim",
           "build", "config_for", "error_response", "make_engine"]
