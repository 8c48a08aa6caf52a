"""The XTB simulator: xAPI's command and streaming websockets on loopback, built on :mod:`orch.sim`.

XTB switched the xAPI off on 2025-03-14, so this simulator is how strategies using the plugin are
exercised now. Use it through the plugin's ``orch_simulator()`` hook (``orch sim start xtb``) or directly::

    from orch.sim.runner import run_simulator_in_thread
    from orch_xtb.sim import SPEC, XtbSim

    with run_simulator_in_thread(SPEC) as running:
        running.config                       # the brokers.xtb section pointing at it
        XtbSim.of(running.engine).trades     # the xAPI ledger (open trades and pending orders)
"""

from orch_xtb.sim.app import DEFAULT_PORT, SPEC, build, config_for, make_engine
from orch_xtb.sim.state import SIM_ACCOUNT, SIM_PASSWORD, SIM_USER, XtbError, XtbSim

__all__ = ["DEFAULT_PORT", "SIM_ACCOUNT", "SIM_PASSWORD", "SIM_USER", "SPEC", "XtbError", "XtbSim", "build",
           "config_for", "make_engine"]
