"""degiro-connector, the most used DEGIRO client library, pointed at the simulator: the proof that the
simulator speaks the web trader's protocol the way a client written against the real one expects.

degiro-connector has its URLs as module constants (``degiro_connector.core.constants.urls``); the test
rewrites their ``https://trader.degiro.nl`` prefix to the simulator. It is synchronous (requests), so the
simulator runs on a thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("degiro_connector")

from degiro_connector.core.constants import urls  # noqa: E402
from degiro_connector.core.exceptions import DeGiroConnectionError  # noqa: E402
from degiro_connector.trading.api import API  # noqa: E402
from degiro_connector.trading.models.account import UpdateOption, UpdateRequest  # noqa: E402
from degiro_connector.trading.models.credentials import Credentials  # noqa: E402
from degiro_connector.trading.models.order import Action, Order, OrderType, TimeType  # noqa: E402
from degiro_connector.trading.models.product_search import LookupRequest  # noqa: E402

from orch.models import OrderStatus  # noqa: E402
from orch.sim.clock import ALL_OPEN, SimClock  # noqa: E402
from orch.sim.runner import run_simulator_in_thread  # noqa: E402

from orch_degiro.sim import (SIM_INT_ACCOUNT, SIM_PASSWORD, SIM_TOTP_SECRET, SIM_USERNAME, SPEC,  # noqa: E402
                             DegiroSim)

REAL = "https://trader.degiro.nl"


@pytest.fixture
def running(monkeypatch) -> Iterator[Any]:
    with run_simulator_in_thread(SPEC, clock=SimClock(wall=ALL_OPEN)) as sim:
        sim.engine.config.fill_on_submit = True
        for name in dir(urls):
            value = getattr(urls, name)
            if isinstance(value, str) and value.startswith(REAL):
                monkeypatch.setattr(urls, name, sim.url + value[len(REAL):])
        # Product search copies the URLs into a class attribute when its module is first imported.
        from degiro_connector.trading.actions.action_product_search import ActionProductSearch

        monkeypatch.setattr(ActionProductSearch, "URL_MATCHING", {
            kind: sim.url + "/" + url.split("://", 1)[1].partition("/")[2]
            for kind, url in ActionProductSearch.URL_MATCHING.items()})
        yield sim


def connect(totp_secret: str = SIM_TOTP_SECRET) -> API:
    api = API(credentials=Credentials(username=SIM_USERNAME, password=SIM_PASSWORD, totp_secret_key=totp_secret))
    api.connect()
    return api


def test_login_with_totp_portfolio_and_an_order_checked_then_confirmed(running):
    api = connect()
    state = DegiroSim.of(running.engine)
    assert state.counters["totp_checks"] == 1 and state.counters["logins"] == 1

    client = api.get_client_details()
    assert client["data"]["intAccount"] == SIM_INT_ACCOUNT
    api.credentials.int_account = client["data"]["intAccount"]
    config = api.get_config()
    assert config["clientId"] and config["tradingUrl"].startswith(running.url)

    running.engine.set_position("ASML.AS", 3, "850")
    update = api.get_update(request_list=[UpdateRequest(option=UpdateOption.PORTFOLIO, last_updated=0),
                                          UpdateRequest(option=UpdateOption.CASH_FUNDS, last_updated=0),
                                          UpdateRequest(option=UpdateOption.TOTAL_PORTFOLIO, last_updated=0)])
    assert update is not None
    rows = {row["id"]: {i["name"]: i.get("value") for i in row["value"]} for row in update.portfolio["value"]}
    asml = DegiroSim.product_id("ASML.AS")
    assert rows[asml]["size"] == 3 and rows[asml]["positionType"] == "PRODUCT"
    assert rows["FLATEX_EUR"]["positionType"] == "CASH"
    totals = {i["name"]: i["value"] for i in update.total_portfolio["value"]}
    assert totals["freeSpaceNew"] > 0

    batch = api.product_search(product_request=LookupRequest(search_text="AAPL", limit=5, offset=0))
    product = next(p for p in batch.products if p["symbol"] == "AAPL")
    product_id = int(product["id"])

    order = Order(buy_sell=Action.BUY, order_type=OrderType.LIMIT, price=95.5, product_id=product_id, size=2,
                  time_type=TimeType.GOOD_TILL_CANCELED)
    checked = api.check_order(order=order)
    assert checked is not None and checked.confirmation_id
    assert checked.free_space_new is not None
    confirmed = api.confirm_order(confirmation_id=checked.confirmation_id, order=order)
    assert confirmed is not None and confirmed.order_id
    placed = running.engine.get_order(confirmed.order_id)
    assert placed.symbol == "AAPL" and placed.qty == 2 and placed.limit_price == Decimal("95.5")
    assert placed.status in (OrderStatus.NEW, OrderStatus.ACCEPTED)

    # The confirmation id is single-use: confirming it again places nothing.
    assert api.confirm_order(confirmation_id=checked.confirmation_id, order=order) is None
    assert len(running.engine.orders(status="all")) == 1

    listed = api.get_update(request_list=[UpdateRequest(option=UpdateOption.ORDERS, last_updated=0)])
    ids = [row["id"] for row in listed.orders["value"]]
    assert confirmed.order_id in ids

    assert api.delete_order(order_id=confirmed.order_id) is True
    assert running.engine.get_order(confirmed.order_id).status is OrderStatus.CANCELED


def test_market_order_through_connector_fills_into_the_portfolio(running):
    api = connect()
    api.credentials.int_account = SIM_INT_ACCOUNT
    product_id = int(api.product_search(product_request=LookupRequest(search_text="SAP", limit=5, offset=0))
                     .products[0]["id"])
    order = Order(buy_sell=Action.BUY, order_type=OrderType.MARKET, product_id=product_id, size=4,
                  time_type=TimeType.GOOD_TILL_DAY)
    checked = api.check_order(order=order)
    confirmed = api.confirm_order(confirmation_id=checked.confirmation_id, order=order)
    assert running.engine.get_order(confirmed.order_id).status is OrderStatus.FILLED
    update = api.get_update(request_list=[UpdateRequest(option=UpdateOption.PORTFOLIO, last_updated=0)])
    sizes = {row["id"]: {i["name"]: i.get("value") for i in row["value"]}["size"] for row in update.portfolio["value"]}
    assert sizes[str(product_id)] == 4


def test_wrong_totp_secret_is_refused(running):
    with pytest.raises(DeGiroConnectionError):
        connect(totp_secret="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert DegiroSim.of(running.engine).counters["logins"] == 0
