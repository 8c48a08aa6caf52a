"""pytr, the reference client, against the simulator: its v2 web login (app approval), then its websocket
client receiving the portfolio (compactPortfolioByType with the account number from the settings), cash
and ticker subscriptions, deltas included.

pytr hard-codes Trade Republic's hosts; the test points them at the simulator: the REST host through its
``_host`` attribute, the websocket URL by wrapping ``websockets.connect`` as pytr's module sees it. pytr
only sends cookies whose domain is traderepublic.com over the websocket, so the simulator's (host-only)
cookies are mirrored under that domain, as the real ones are set.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

pytest.importorskip("pytr")

from pytr import api as pytr_api  # noqa: E402

from orch.sim.runner import run_simulator_in_thread  # noqa: E402
from orch_trade_republic.sim import SIM_PHONE, SIM_PIN, SIM_SEC_ACC, SPEC, TradeRepublicSim  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def running():
    with run_simulator_in_thread(SPEC) as sim:
        sim.engine.market.force_sessions(True)
        sim.call(sim.engine.set_position, "DE0007164600", 3, "150")
        yield sim


def _logged_in(running, monkeypatch, tmp_path):
    monkeypatch.setattr(pytr_api, "BASE_DIR", tmp_path, raising=False)
    tr = pytr_api.TradeRepublicApi(phone_no=SIM_PHONE, pin=SIM_PIN, use_v2_login=True, save_cookies=False,
                                   cookies_file=tmp_path / "cookies.txt")
    tr._host = running.url
    tr.initiate_weblogin()
    assert not tr.weblogin_needs_authenticator
    tr.complete_weblogin()
    jar = tr._websession.cookies
    for cookie in list(jar):
        jar.set(cookie.name, cookie.value, domain=".traderepublic.com", path="/")
    real_connect = pytr_api.websockets.connect

    def to_simulator(url, *args, **kwargs):
        assert url == "wss://api.traderepublic.com"
        kwargs.pop("ssl", None)
        return real_connect(running.ws_url + "/", *args, **kwargs)

    monkeypatch.setattr(pytr_api.websockets, "connect", to_simulator)
    return tr


def test_pytr_logs_in_and_reads_portfolio_cash_and_tickers(running, monkeypatch, tmp_path):
    tr = _logged_in(running, monkeypatch, tmp_path)
    assert tr.settings()["securitiesAccountNumber"] == SIM_SEC_ACC

    async def session():
        try:
            await tr.compact_portfolio()
            await tr.cash()
            await tr.ticker("DE0007164600", exchange="LSX")
            answers: dict[str, object] = {}
            deltas = 0
            while deltas < 2 or len(answers) < 3:
                _, subscription, payload = await asyncio.wait_for(tr.recv(), 10)
                if subscription["type"] in answers:
                    deltas += subscription["type"] == "ticker"
                answers[subscription["type"]] = payload
            return answers
        finally:
            await tr.close()

    answers = asyncio.run(session())
    positions = answers["compactPortfolioByType"]["categories"][0]["positions"]
    assert [(p["isin"], Decimal(p["netSize"])) for p in positions] == [("DE0007164600", Decimal(3))]
    assert answers["cash"][0]["currencyId"] == "EUR"
    ticker = answers["ticker"]
    assert isinstance(ticker["bid"]["price"], str)
    assert Decimal(ticker["bid"]["price"]) <= Decimal(ticker["ask"]["price"])
    sim = TradeRepublicSim.of(running.engine)
    assert sim.counters["login"] == 1 and sim.counters["sub:compactPortfolioByType"] == 1


def test_pytr_sees_removed_topics_refused(running, monkeypatch, tmp_path):
    tr = _logged_in(running, monkeypatch, tmp_path)

    async def session():
        try:
            await tr.subscribe({"type": "compactPortfolio"})
            with pytest.raises(pytr_api.TradeRepublicError) as caught:
                await asyncio.wait_for(tr.recv(), 10)
            return caught.value
        finally:
            await tr.close()

    error = asyncio.run(session())
    assert error.error["errors"][0]["errorCode"] == "BAD_SUBSCRIPTION_TYPE"
    assert "compactPortfolio" in error.error["errors"][0]["errorMessage"]
