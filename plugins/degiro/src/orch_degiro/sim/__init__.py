"""The DEGIRO simulator: the web trader's login (password, TOTP, in-app approval), config, client,
update, checkOrder/confirm/delete, product search, reports and vwd quotes, on loopback, built on
:mod:`orch.sim`.

Use it through the plugin's ``orch_simulator()`` hook or directly::

    from orch.sim.runner import run_simulator_in_thread
    from orch_degiro.sim import SPEC, DegiroSim

    with run_simulator_in_thread(SPEC) as running:
        running.config                          # the brokers.degiro section pointing at it
        DegiroSim.of(running.engine).options.mfa = "in_app"
"""

from orch_degiro.sim.app import DEFAULT_PORT, SPEC, build, config_for, error_response, make_engine
from orch_degiro.sim.state import (SIM_ACCOUNT, SIM_CLIENT_ID, SIM_INT_ACCOUNT, SIM_PASSWORD, SIM_TOTP_SECRET,
                                   SIM_USERNAME, DegiroSim, Options)

__all__ = ["DEFAULT_PORT", "SIM_ACCOUNT", "SIM_CLIENT_ID", "SIM_INT_ACCOUNT", "SIM_PASSWORD", "SIM_TOTP_SECRET",
           "SIM_USERNAME", "SPEC", "DegiroSim", "Options", "build", "config_for", "error_response", "make_engine"]
