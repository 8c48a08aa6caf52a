"""Connect a broker plugin to its own simulator the way orch does in production.

:func:`open_harness` loads the plugin (:func:`orch.plugins.load_plugin`), starts the simulator its
``orch_simulator()`` hook describes on a loopback port, turns the simulator's config section into the
plugin's Settings through :func:`orch.config.config_from_data` (the same validation a user's config goes
through, with an empty environment so a developer's ``APCA_API_KEY_ID`` cannot leak in), and connects an
:class:`orch.client.BrokerClient` (rate limiter, retries, breaker, timeouts) to it.

Usable outside pytest::

    async with open_harness("alpaca") as h:
        account = await h.client.account()
        h.sim.request_count()
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import trio

from orch.client import BrokerClient
from orch.config import config_from_data, secret_fields
from orch.errors import PluginError
from orch.plugins import LoadedBroker, load_plugin
from orch.testing.simulator import SimulatorHandle, start

__all__ = ["Harness", "open_harness", "wrong_credentials"]


def wrong_credentials(section: Mapping[str, Any], settings_type: type) -> dict[str, Any]:
    """``section`` with every Secret field of the plugin's Settings replaced by a value no simulator
    accepts (and no real broker either)."""
    changed = dict(section)
    for name in secret_fields(settings_type):
        changed[name] = f"orch-conformance-wrong-{name}-{uuid.uuid4().hex[:12]}"
    return changed


class Harness:
    """One plugin, its running simulator and connected clients. ``client``/``conn`` are the first
    connection; :meth:`connect` opens more (with other settings)."""

    def __init__(self, loaded: LoadedBroker, sim: SimulatorHandle, nursery: trio.Nursery) -> None:
        self.loaded = loaded
        self.sim = sim
        self.nursery = nursery
        self.section: dict[str, Any] = {"enabled": True, **sim.config}
        self.settings = self.settings_from(self.section)
        self.client: BrokerClient | None = None
        self.conn: Any = None
        self._clients: list[BrokerClient] = []
        self.connections: dict[BrokerClient, Any] = {}  # client -> the plugin's connection object

    @property
    def broker(self) -> str:
        return self.loaded.name

    @property
    def capabilities(self) -> Any:
        return self.loaded.info.capabilities

    def settings_from(self, section: Mapping[str, Any]) -> Any:
        """The plugin's Settings for ``section``, validated as a user's config is."""
        config = config_from_data({"brokers": {self.broker: dict(section)}}, source="<conformance>", env={})
        settings = config.brokers.get(self.broker)
        if settings is None or isinstance(settings, Mapping):
            problem = "; ".join(config.warnings) or "not structured"
            raise PluginError(f"{self.broker}: the simulator's config section was not accepted: {problem}")
        return settings

    def make_client(self, settings: Any = None, **kwargs: Any) -> BrokerClient:
        """A BrokerClient as the orchestrator builds one (default limiter from the plugin's limits,
        default retry policy and breaker)."""
        return BrokerClient(self.broker, self.loaded.hooks, settings or self.settings, self.loaded.info, **kwargs)

    async def connect(self, settings: Any = None, **kwargs: Any) -> BrokerClient:
        client = self.make_client(settings, **kwargs)
        self._clients.append(client)
        self.connections[client] = await client.connect(self.nursery, live=False)
        return client

    async def aclose(self) -> None:
        for client in reversed(self._clients):
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()

    def hook(self, name: str) -> Any:
        """The plugin's own implementation of hook ``name`` (to call it without the client's checks)."""
        return self.loaded.hooks[name]

    def __repr__(self) -> str:
        return f"<Harness {self.broker} sim={self.sim.url}>"


def load_with_simulator(broker: str) -> tuple[LoadedBroker, Any]:
    """The loaded plugin and its SimulatorSpec; PluginError when it ships no simulator."""
    loaded = load_plugin(broker)
    hook = loaded.hooks.get("orch_simulator")
    if hook is None:
        raise PluginError(f"plugin '{broker}' has no orch_simulator() hook: the conformance kit needs the "
                          "broker's simulator to run against")
    spec = hook()
    if getattr(spec, "broker", broker) != broker:
        raise PluginError(f"plugin '{broker}': orch_simulator() describes broker '{spec.broker}'")
    return loaded, spec


def _single(group: BaseExceptionGroup) -> BaseException | None:
    """The one exception inside nested groups, or None when there are several."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for sub in exc.exceptions:
                walk(sub)
        else:
            leaves.append(exc)

    walk(group)
    return leaves[0] if len(leaves) == 1 else None


@contextlib.asynccontextmanager
async def open_harness(broker: str, *, connect: bool = True, host: str = "127.0.0.1") -> AsyncIterator[Harness]:
    """Start ``broker``'s simulator and (with ``connect``) connect a client to it; everything is closed
    and stopped on exit. An error inside the block comes out as itself, not wrapped in the exception
    group of the harness's nursery."""
    loaded, spec = load_with_simulator(broker)
    try:
        async with trio.open_nursery() as nursery:
            sim = await start(nursery, spec, host)
            harness = Harness(loaded, sim, nursery)
            try:
                if connect:
                    harness.client = await harness.connect()
                    harness.conn = harness.connections[harness.client]
                yield harness
            finally:
                with trio.CancelScope(shield=True):
                    await harness.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        single = _single(group)
        if single is None:
            raise
        raise single from None
