"""orch's conformance kit as a pytest plugin.

Enable it in the root ``conftest.py`` (``pytest_plugins = ["orch.testing.pytest_plugin"]``) or on the
command line (``pytest -p orch.testing.pytest_plugin``), then subclass the shared test class::

    from orch.testing.pytest_plugin import BrokerConformance

    class TestMyBrokerConformance(BrokerConformance):
        broker = "mybroker"

The class carries its own fixtures, so importing it is enough; the plugin adds:

* ``orch_simulator`` (async fixture, needs a ``broker`` indirect parameter or the ``orch_broker``
  fixture overridden): a :class:`~orch.testing.harness.Harness` with the broker's simulator running
  and a connected :class:`~orch.client.BrokerClient`, for a plugin's own tests beyond the kit;
* ``orch_autojump_clock``: a :class:`trio.testing.MockClock` that jumps when every task waits;
* the ``orch_conformance`` marker on every test of a :class:`BrokerConformance` subclass, so
  ``pytest -m orch_conformance`` runs the kit alone;
* ``--orch-broker NAME``: run only the conformance classes of that broker.

Needs ``pytest`` and ``pytest-trio`` (the kit's tests are trio tests; they are marked so explicitly, so
``trio_mode`` is not required).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from orch.testing.conformance import BrokerConformance
from orch.testing.harness import Harness, open_harness

__all__ = ["BrokerConformance", "Harness"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orch", "orch broker conformance kit")
    group.addoption("--orch-broker", action="append", default=[], metavar="NAME",
                    help="run only the conformance tests of this broker (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "orch_conformance: a test of orch's broker conformance kit")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("--orch-broker") or ())
    deselected = []
    kept = []
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and isinstance(cls, type) and issubclass(cls, BrokerConformance):
            item.add_marker(pytest.mark.orch_conformance)
            item.add_marker(pytest.mark.trio)
            if wanted and cls.broker not in wanted:
                deselected.append(item)
                continue
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture
def orch_autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.fixture
def orch_broker(request: pytest.FixtureRequest) -> str:
    """The broker for ``orch_simulator``: ``@pytest.mark.parametrize("orch_broker", ["x"])`` or override."""
    name = getattr(request, "param", None)
    if not name:
        pytest.fail("orch_simulator needs the broker name: parametrize or override the orch_broker fixture")
    return name


@pytest.fixture
async def orch_simulator(orch_broker: str, orch_autojump_clock: trio.testing.MockClock) -> Any:
    async with open_harness(orch_broker) as harness:
        yield harness
