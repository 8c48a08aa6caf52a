"""The fake TWS: the TWS / IB Gateway socket protocol on loopback, built on :mod:`orch.sim`.

Use it through the plugin's ``orch_simulator()`` hook (``orch sim start ibkr``) or directly::

    from orch.sim.runner import run_simulator_in_thread
    from orch_ibkr.sim import SPEC, TwsState

    with run_simulator_in_thread(SPEC) as running:
        running.config                              # the brokers.ibkr section pointing at it
        TwsState.of(running.engine).drop_connections()   # a network drop, as clients see it
"""

from decimal import Decimal

from orch.sim.fees import ByAssetClass, PercentFee, PerShareFee
from orch.sim.instruments import AssetClass
from orch.sim.spec import SimulatorSpec, engine_factory

from orch_ibkr.sim.server import SERVER_VERSION, Session, TwsState, tcp_handler

DEFAULT_PORT = 17497
SIM_ACCOUNT = "DU1234567"


def config_for(host: str, port: int) -> dict:
    return {"host": host, "port": port, "client_id": 1, "paper": True, "account_id": SIM_ACCOUNT,
            "base_currency": "USD"}


# IBKR's fixed pricing: per share for stocks; forex is 0.2 bps of the value with a USD 2 minimum (a
# per-share charge on 20,000 EURUSD would be USD 100).
FEES = ByAssetClass(PerShareFee(), {AssetClass.FOREX: PercentFee(Decimal("0.00002"), minimum=Decimal(2),
                                                                  in_received_asset=False)})

make_engine = engine_factory(
    "ibkr", account_id=SIM_ACCOUNT, currency="USD", cash=1_000_000, fee_model=FEES,
    margin_multiplier=4, allow_short=True, order_ids="seq", client_order_id_unique="never", keep_rejected=True)

SPEC = SimulatorSpec(broker="ibkr", kind="tcp", tcp_handler=tcp_handler, make_engine=make_engine,
                     config_for=config_for, default_port=DEFAULT_PORT,
                     title="Interactive Brokers (fake TWS, API server version 178)")

__all__ = ["DEFAULT_PORT", "SERVER_VERSION", "SIM_ACCOUNT", "SPEC", "Session", "TwsState", "config_for",
           "make_engine", "tcp_handler"]
