"""A third-party broker plugin, built in a temporary directory with its own pyproject and pip-installed
into the running environment, works with no change to the core; broken, incomplete and unofficial
variants are handled as the contract says.

Two throwaway distributions, installed once for this module and uninstalled after it (module scope, so
no other test module ever sees them):

* ``orch-memtest``: entry points ``memtest`` (a complete in-memory broker), ``memtest_nohook`` (no
  ``orch_positions``) and ``memtest_broken`` (raises on import);
* ``orch-memtest-unofficial`` (keyword ``orch-unofficial``): ``memtest_unofficial``, whose import writes
  the file named by ``ORCH_MEMTEST_SENTINEL``, so a test can prove it was never imported.
"""

from __future__ import annotations

import runpy
import json
import sys
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio

from orch import plugins
from orch.context import ConnectContext
from orch.errors import PluginError
from orch.models import (Instrument, Market, OrderFilter, OrderRef, OrderRequest, OrderStatus, OrderType,
                         Side)


# pytest's importlib mode gives tests no package to import shared helpers from.
kit = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_plugin_kit.py"))))

DISTS = ("orch-memtest", "orch-memtest-unofficial")
UNOFFICIAL = """
import os
with open(os.environ.get("ORCH_MEMTEST_SENTINEL", {default!r}), "a") as _f:
    _f.write("imported\\n")
from orch_memtest_unofficial.broker import build
globals().update(build("memtest_unofficial", official=False))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("third-party")
    official = kit.write_project(
        root / "orch-memtest", "orch-memtest", "orch_memtest",
        {"memtest": "orch_memtest.plugin", "memtest_nohook": "orch_memtest.nohook",
         "memtest_broken": "orch_memtest.broken"},
        {"broker": kit.MEMORY_BROKER,
         "plugin": 'from orch_memtest.broker import build\nglobals().update(build("memtest"))\n',
         "nohook": 'from orch_memtest.broker import build\n'
                   'globals().update(build("memtest_nohook", omit={"orch_positions"}))\n',
         "broken": 'raise RuntimeError("libmem is missing")\n'})
    unofficial = kit.write_project(
        root / "orch-memtest-unofficial", "orch-memtest-unofficial", "orch_memtest_unofficial",
        {"memtest_unofficial": "orch_memtest_unofficial.plugin"},
        {"broker": kit.MEMORY_BROKER, "plugin": UNOFFICIAL.format(default=str(root / "in-process-import"))},
        keywords=("trading", "orch-unofficial"))
    try:
        kit.pip("install", "--quiet", "--no-deps", "--no-build-isolation", str(official), str(unofficial))
        plugins.refresh()
        yield root
    finally:
        kit.pip("uninstall", "--quiet", "--yes", *DISTS)
        plugins.refresh()
        for name in [m for m in sys.modules if m.startswith("orch_memtest")]:
            del sys.modules[name]


def write_config(path: Path, unofficial_section: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"brokers": {"memtest": {"enabled": True},
                                            "memtest_unofficial": unofficial_section}}))
    return path


def test_discovered_from_the_installed_distribution(installed):
    entries = {e.name: e for e in plugins.installed_plugins()}
    assert entries["memtest"].dist_name == "orch-memtest"
    assert entries["memtest"].version == "0.3.0"
    assert entries["memtest"].module == "orch_memtest.plugin"
    assert not entries["memtest"].unofficial
    assert entries["memtest_unofficial"].unofficial
    # Installed into this very environment, not merely put on a path.
    location = Path(metadata.distribution("orch-memtest").locate_file("")).resolve()
    assert location.is_relative_to(Path(sys.prefix).resolve())


class CountingLimiter:
    def __init__(self) -> None:
        self.charged = 0

    async def acquire(self, cost: int = 1) -> None:
        self.charged += cost


async def test_the_core_calls_the_plugin_hooks(installed):
    broker = plugins.load_plugin("memtest")
    hooks = broker.hooks
    assert broker.info.title == "In-memory test broker (memtest)"
    settings = broker.info.settings_type(enabled=True)
    aapl = Instrument("AAPL", Market.US_STOCKS)
    limiter = CountingLimiter()
    async with trio.open_nursery() as nursery:
        conn = await hooks["orch_connect"](settings, ConnectContext(broker="memtest", nursery=nursery,
                                                                      limiter=limiter))
        bought = await hooks["orch_place_order"](
            conn, OrderRequest(aapl, Side.BUY, qty=3, client_order_id="orch-c1"))
        assert bought.status is OrderStatus.FILLED and bought.filled_qty == 3
        by_client = await hooks["orch_get_order"](conn, OrderRef(client_order_id="orch-c1"))
        by_broker = await hooks["orch_get_order"](conn, OrderRef(broker_order_id=bought.broker_order_id))
        assert by_client == by_broker == bought
        assert await hooks["orch_get_order"](conn, OrderRef(client_order_id="never-sent")) is None

        resting = await hooks["orch_place_order"](
            conn, OrderRequest(aapl, Side.BUY, qty=1, type=OrderType.LIMIT, limit_price="90",
                               client_order_id="orch-c2"))
        assert [o.client_order_id for o in await hooks["orch_list_orders"](conn, OrderFilter())] == ["orch-c2"]
        canceled = await hooks["orch_cancel_order"](conn, OrderRef(client_order_id="orch-c2"))
        assert canceled.status is OrderStatus.CANCELED and resting.status is OrderStatus.ACCEPTED

        account = await hooks["orch_account"](conn)
        assert (account.cash, account.equity) == (Decimal("9700"), Decimal("10000"))
        [position] = await hooks["orch_positions"](conn)
        assert (position.instrument.symbol, position.qty) == ("AAPL", Decimal(3))
        quote = await hooks["orch_quote"](conn, aapl)
        assert (quote.bid, quote.ask) == (Decimal("99.99"), Decimal("100.01"))
        await conn.aclose()
    assert limiter.charged == 1 and conn.closed


def test_a_variant_missing_a_required_hook_is_refused(installed):
    with pytest.raises(PluginError) as info:
        plugins.load_plugin("memtest_nohook")
    assert str(info.value) == "plugin 'memtest_nohook' refused: missing required hook orch_positions"


def test_orch_plugins_lists_everything_and_imports_nothing(installed, tmp_path):
    run = kit.run_orch(["plugins"], tmp_path)
    assert run.code == 0, run.stderr
    rows = {line.split()[0]: line.split() for line in run.stdout.splitlines() if line.startswith("memtest")}
    assert rows["memtest"][:3] == ["memtest", "0.3.0", "official"]
    assert rows["memtest_unofficial"][:3] == ["memtest_unofficial", "0.3.0", "unofficial"]
    assert {"memtest_nohook", "memtest_broken"} <= set(rows)
    assert {"memtest", "memtest_unofficial"} <= set(run.plugins)
    assert run.imported_plugins() == []


def test_orch_plugins_check_survives_and_names_the_broken_plugin(installed, tmp_path):
    sentinel = tmp_path / "unofficial-imported"
    config = write_config(tmp_path / "orch.json", {"enabled": True})
    run = kit.run_orch(["--config", str(config), "plugins", "--check"], tmp_path,
                       env={"ORCH_MEMTEST_SENTINEL": str(sentinel)})
    assert run.code == 1, run.stderr
    out = run.stdout
    assert ("memtest_broken: plugin 'memtest_broken' could not be imported (orch_memtest.broken): "
            "RuntimeError: libmem is missing") in out
    assert "memtest_nohook: plugin 'memtest_nohook' refused: missing required hook orch_positions" in out
    status = {line.split()[0]: line for line in out.splitlines() if line.startswith("memtest")}
    assert status["memtest"].endswith(" ok")
    assert status["memtest_unofficial"].endswith("gated (opt-in needed)")
    assert "memtest_unofficial: broker 'memtest_unofficial' is an unofficial plugin and stays unloaded" in out
    assert "orch_memtest.plugin" in run.modules
    assert "orch_memtest_unofficial" not in run.modules and not sentinel.exists()


def test_a_gated_unofficial_broker_group_refuses_in_one_line(installed, tmp_path):
    sentinel = tmp_path / "unofficial-imported"
    config = write_config(tmp_path / "orch.json", {"enabled": True})
    run = kit.run_orch(["--config", str(config), "memtest_unofficial", "--help"], tmp_path,
                       env={"ORCH_MEMTEST_SENTINEL": str(sentinel)})
    assert run.code == 1
    assert run.stderr.startswith("error: broker 'memtest_unofficial' is an unofficial plugin and stays unloaded")
    assert len(run.stderr.strip().splitlines()) == 1
    assert not sentinel.exists()


def test_the_unofficial_plugin_loads_with_enabled_and_acknowledged(installed, tmp_path):
    section = {"enabled": True, "acknowledge_unofficial": True}
    broker = plugins.load_gated("memtest_unofficial", section)
    assert broker.info.official is False and broker.info.risk_notice
    sentinel = tmp_path / "unofficial-imported"
    config = write_config(tmp_path / "orch.json", section)
    run = kit.run_orch(["--config", str(config), "plugins", "--check", "--json"], tmp_path,
                       env={"ORCH_MEMTEST_SENTINEL": str(sentinel)})
    rows = {row["name"]: row for row in json.loads(run.stdout)}
    assert rows["memtest_unofficial"]["state"] == "ok"
    assert rows["memtest_unofficial"]["enabled"] is True
    assert "test-only unofficial broker" in rows["memtest_unofficial"]["notice"]
    assert sentinel.read_text() == "imported\n"
