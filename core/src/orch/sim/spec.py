"""What a broker plugin's ``orch_simulator()`` hook returns: how to build and serve its simulator.

A plugin's ``sim.py`` ends with something like::

    from orch.sim import SimulatorSpec, engine_factory, PerShareFee

    def build(engine, faults):                       # -> an ASGI app (starlette is fine)
        return Starlette(routes=[...])

    SPEC = SimulatorSpec(
        broker="alpaca", kind="asgi", build=build, default_port=18001,
        make_engine=engine_factory("alpaca", account_id="PA3SIM0001", currency="USD", cash=100_000),
        config_for=lambda host, port: {"api_key": "SIMKEY", "secret_key": "SIMSECRET",
                                       "base_url": f"http://{host}:{port}", "paper": True},
    )

    @hookimpl
    def orch_simulator():
        return SPEC

A socket protocol (TWS) sets ``kind="tcp"`` and ``tcp_handler(engine, faults)`` returning
``async def handler(stream: trio.SocketStream)``, called once per connection.

``config_for(host, port)`` returns the broker's config section (a dict, as it would appear under
``brokers.<name>``) pointing at the running simulator, with the simulator's test credentials: ``orch sim
start`` prints it and the conformance kit connects with it. ``make_engine()`` builds a fresh engine with the
broker's accounts (currency, starting cash, fee model, margin); the runner may then give it a shared clock
and market (``engine.clock``, ``engine.market``), so a factory must not hold on to its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import trio
from attrs import field, frozen

from orch.sim.engine import Engine, EngineConfig
from orch.sim.faults import Faults

if TYPE_CHECKING:
    from orch.sim.asgi import ASGIApp, ErrorResponder
    from orch.sim.fees import FeeModel

__all__ = ["SimulatorSpec", "engine_factory"]

TcpHandler = Callable[[trio.SocketStream], Awaitable[None]]


def _kind(instance: Any, attribute: Any, value: str) -> None:
    if value not in ("asgi", "tcp"):
        raise ValueError(f"SimulatorSpec.kind must be 'asgi' or 'tcp', got {value!r}")


@frozen(kw_only=True)
class SimulatorSpec:
    """How to run one broker's simulator. Exactly one of ``build`` (kind ``asgi``) and ``tcp_handler``
    (kind ``tcp``) is set. ``step_interval`` is how often (seconds of trio time) the runner re-evaluates
    resting orders; ``error_response`` formats injected HTTP errors the broker's way (see
    :func:`orch.sim.asgi.default_error_response`)."""

    broker: str
    kind: Literal["asgi", "tcp"] = field(validator=_kind)
    make_engine: Callable[[], Engine]
    config_for: Callable[[str, int], dict[str, Any]]
    build: Callable[[Engine, Faults], ASGIApp] | None = None
    tcp_handler: Callable[[Engine, Faults], TcpHandler] | None = None
    default_port: int = 0
    title: str = ""
    step_interval: float = 1.0
    fault_seed: int = 0
    error_response: ErrorResponder | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind == "asgi" and (self.build is None or self.tcp_handler is not None):
            raise ValueError(f"simulator {self.broker}: kind 'asgi' needs build() and no tcp_handler")
        if self.kind == "tcp" and (self.tcp_handler is None or self.build is not None):
            raise ValueError(f"simulator {self.broker}: kind 'tcp' needs tcp_handler() and no build")
        if self.step_interval <= 0:
            raise ValueError(f"simulator {self.broker}: step_interval must be positive")

    def make_faults(self) -> Faults:
        return Faults(seed=self.fault_seed)


def engine_factory(broker: str, *, account_id: str | None = None, currency: str = "USD",
                   cash: Any = 100_000, fee_model: FeeModel | None = None, margin_multiplier: Any = 1,
                   allow_short: bool = False, auto_fx: bool = True, fractional: bool | None = None,
                   seed: int = 0, accounts: Mapping[str, Mapping[str, Any]] | None = None,
                   **config: Any) -> Callable[[], Engine]:
    """A ``make_engine`` for the common case: one engine with one account (or several: ``accounts``
    maps account ids to :meth:`Engine.open_account` keyword arguments), and :class:`EngineConfig` fields
    as keyword arguments (``partial_fills=True``, ``order_ids="seq"``…)."""
    EngineConfig(**config)  # fail at definition time on a misspelt setting

    def make() -> Engine:
        engine = Engine(broker, config=EngineConfig(**config), seed=seed)
        if accounts:
            for acc_id, kwargs in accounts.items():
                engine.open_account(acc_id, **kwargs)
        else:
            engine.open_account(account_id, currency=currency, cash=cash, fee_model=fee_model,
                                margin_multiplier=margin_multiplier, allow_short=allow_short, auto_fx=auto_fx,
                                fractional=fractional)
        return engine

    return make
