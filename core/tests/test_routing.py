"""Routing: symbol → market classification, and market → broker choice with reasons and fallback,
using the broker guide's multi-broker and broker_selection blocks as written."""

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orch.config_model import BrokerRouting, BrokerSelection, OrchConfig
from orch.errors import BrokerUnavailable, UsageError
from orch.models import Market, from_data
from orch.routing import (Router, broker_markets_from, classify, normalize_symbol, pair_quote_currency,
                          parse_market, serves_markets)
from orch.settings import BrokerSettings

M = Market

# The guide's "Setting Up Multiple Brokers" markets and broker_routing, and its "Broker Selection Strategy".
GUIDE_MARKETS = {
    "alpaca": frozenset({M.US_STOCKS, M.CRYPTO}),
    "binance": frozenset({M.CRYPTO}),
    "ibkr": frozenset({M.GLOBAL_STOCKS, M.OPTIONS, M.FUTURES}),
}
GUIDE_ROUTING = from_data(json.loads("""{
    "default_broker": "alpaca",
    "crypto_broker": "binance",
    "forex_broker": "ibkr",
    "fallback_broker": "alpaca"
}"""), BrokerRouting)
GUIDE_SELECTION = from_data(json.loads("""{
    "alphabetical": {
      "alpaca": {"markets": ["US_STOCKS", "CRYPTO"], "priority": 1, "commission_free": true},
      "binance": {"markets": ["CRYPTO"], "priority": 2, "liquidity": "high"},
      "ibkr": {"markets": ["GLOBAL_STOCKS", "OPTIONS"], "priority": 3, "institutional_features": true}
    },
    "by_market": {"US_STOCKS": "alpaca", "CRYPTO": "binance", "OPTIONS": "ibkr", "FUTURES": "ibkr",
                  "FOREX": "ibkr"},
    "by_cost": {"commission_free": ["alpaca", "trading212"], "low_cost": ["ibkr", "xtb"],
                "avoid_high_cost": ["degiro"]}
}"""), BrokerSelection)


def guide_router(**changes) -> Router:
    args = dict(broker_routing=GUIDE_ROUTING, broker_selection=GUIDE_SELECTION, broker_markets=GUIDE_MARKETS)
    args.update(changes)
    return Router(**args)


def down(*names):
    """An availability callable under which ``names`` are unavailable; records who was asked."""
    asked = []

    def available(name: str) -> bool:
        asked.append(name)
        return name not in names

    available.asked = asked
    return available


# ---------------------------------------------------------------------------------------------- classify

CLASSIFIED = [
    # US stocks, share classes
    ("AAPL", M.US_STOCKS), ("F", M.US_STOCKS), ("GOOGL", M.US_STOCKS), ("BRK.B", M.US_STOCKS),
    ("BRK-B", M.US_STOCKS), ("BRK/B", M.US_STOCKS), ("BRK B", M.US_STOCKS), (" aapl ", M.US_STOCKS),
    ("ETH", M.US_STOCKS),  # a bare code is a listed ticker (Ethan Allen); crypto needs the pair
    # crypto: Binance, Alpaca, Coinbase spellings; known bases and crypto quote assets
    ("BTCUSDT", M.CRYPTO), ("ETHBTC", M.CRYPTO), ("BTC/USD", M.CRYPTO), ("BTC-USD", M.CRYPTO),
    ("btcusdt", M.CRYPTO), ("BNBBUSD", M.CRYPTO), ("SOLUSDC", M.CRYPTO), ("PEPEFDUSD", M.CRYPTO),
    ("ETHEUR", M.CRYPTO), ("ADABNB", M.CRYPTO), ("XYZUSDT", M.CRYPTO), ("BTCUSD", M.CRYPTO),
    ("ETH/BTC", M.CRYPTO), ("EURUSDT", M.CRYPTO), ("DOGE-EUR", M.CRYPTO), ("NEWCOIN/USDT", M.CRYPTO),
    # forex: both legs ISO fiat
    ("EURUSD", M.FOREX), ("EUR/USD", M.FOREX), ("GBPJPY", M.FOREX), ("usd-chf", M.FOREX),
    ("AUDNZD", M.FOREX),
    # futures: known roots with month codes, or a dated contract
    ("ESZ6", M.FUTURES), ("ESZ26", M.FUTURES), ("ES 2026-12", M.FUTURES), ("NQH27", M.FUTURES),
    ("CLF7", M.FUTURES), ("GCM26", M.FUTURES), ("/ESZ6", M.FUTURES), ("MNQU6", M.FUTURES),
    ("6EZ6", M.FUTURES), ("ESZ2026", M.FUTURES), ("ES 202612", M.FUTURES),
    # OCC options, padded and not
    ("AAPL  261218C00150000", M.OPTIONS), ("AAPL261218C00150000", M.OPTIONS),
    ("SPY   270115P00400000", M.OPTIONS), ("aapl  261218c00150000", M.OPTIONS),
    # European and other exchange suffixes
    ("VOD.L", M.EU_STOCKS), ("SAP.DE", M.EU_STOCKS), ("MC.PA", M.EU_STOCKS), ("ASML.AS", M.EU_STOCKS),
    ("ENI.MI", M.EU_STOCKS), ("SAN.MC", M.EU_STOCKS), ("NESN.SW", M.EU_STOCKS), ("ABI.BR", M.EU_STOCKS),
    ("EDP.LS", M.EU_STOCKS), ("OMV.VI", M.EU_STOCKS), ("VOLV-B.ST", M.EU_STOCKS), ("NOKIA.HE", M.EU_STOCKS),
    ("NOVO-B.CO", M.EU_STOCKS), ("EQNR.OL", M.EU_STOCKS), ("RY4C.IR", M.EU_STOCKS), ("BT.A.L", M.EU_STOCKS),
    ("SHOP.TO", M.GLOBAL_STOCKS), ("7203.T", M.GLOBAL_STOCKS), ("0700.HK", M.GLOBAL_STOCKS),
    ("BHP.AX", M.GLOBAL_STOCKS),
    # CFDs and index CFDs (XTB names)
    ("US500", M.CFD), ("DE40", M.CFD), ("GOLD", M.CFD), ("UK100", M.CFD), ("JP225", M.CFD),
    ("US30", M.CFD), ("OIL.WTI", M.CFD), ("SILVER", M.CFD), ("XAUUSD", M.CFD), ("NATGAS", M.CFD),
]


@pytest.mark.parametrize(("symbol", "market"), CLASSIFIED)
def test_classify(symbol, market):
    assert classify(symbol) is market


@pytest.mark.parametrize("symbol", ["", "   ", "ABCDEF", "12345", "FOO.XYZ", "AAPL.US", "ÄÖÜ", "EUR/XYZ",
                                    "AAPL  261318C00150000", "ESZ6X", "ES 2026-13", "$$$"])
def test_unclassifiable_names_symbol_and_suggests_market(symbol):
    with pytest.raises(UsageError) as err:
        classify(symbol)
    text = str(err.value)
    if symbol.strip():
        assert symbol.strip() in text or symbol.strip().upper() in text
        assert "--market" in text
    assert err.value.exit_code == 2


def test_market_override_wins():
    assert classify("AAPL", M.CRYPTO) is M.CRYPTO
    assert classify("GOLD", "us_stocks") is M.US_STOCKS
    assert classify("7203", "global-stocks") is M.GLOBAL_STOCKS  # unclassifiable alone, fine with --market
    with pytest.raises(UsageError, match="unknown market 'moon'"):
        classify("AAPL", "moon")
    with pytest.raises(UsageError, match="empty symbol"):
        classify("  ", M.US_STOCKS)


def test_normalize_and_parse_market():
    assert normalize_symbol("  brk.b\n") == "BRK.B"
    assert normalize_symbol("aapl  261218c00150000 ") == "AAPL  261218C00150000"
    assert parse_market(M.FOREX) is M.FOREX
    assert parse_market(" Crypto ") is M.CRYPTO


@given(st.text(max_size=40))
def test_classify_only_raises_usage_error(text):
    try:
        assert isinstance(classify(text), Market)
    except UsageError as err:
        assert "\n" not in err.message


@given(st.text(alphabet="ABCDEFGHJKLMNQRSTUVXZ0123456789 ./-", max_size=24))
def test_classify_symbol_like_text_only_raises_usage_error(text):
    try:
        classify(text)
    except UsageError:
        pass


@given(st.text(min_size=1, max_size=20).filter(str.strip), st.sampled_from(list(Market)))
def test_override_always_wins(text, market):
    assert classify(text, market) is market


def test_global_stocks_serves_us_and_eu():
    assert serves_markets({M.GLOBAL_STOCKS}) == {M.GLOBAL_STOCKS, M.US_STOCKS, M.EU_STOCKS}
    assert serves_markets({M.US_STOCKS}) == {M.US_STOCKS}


# ------------------------------------------------------------------------------------------ route: rules


@pytest.mark.parametrize(("symbol", "broker", "rule"), [
    ("AAPL", "alpaca", "broker_selection.by_market.US_STOCKS"),
    ("BTCUSDT", "binance", "broker_selection.by_market.CRYPTO"),
    ("ESZ6", "ibkr", "broker_selection.by_market.FUTURES"),
    ("AAPL  261218C00150000", "ibkr", "broker_selection.by_market.OPTIONS"),
    # The guide maps FOREX to ibkr without listing FOREX in ibkr's markets: the mapping declares it.
    ("EURUSD", "ibkr", "broker_selection.by_market.FOREX"),
])
def test_guide_by_market(symbol, broker, rule):
    decision = guide_router().route(symbol, available=down())
    assert (decision.broker, decision.rule, decision.fallback_used) == (broker, rule, False)
    assert decision.candidates[0] == broker


def test_guide_eu_and_global_stocks_go_to_ibkr_through_global_stocks():
    decision = guide_router().route("VOD.L")
    assert decision.broker == "ibkr"
    assert decision.market is M.EU_STOCKS
    assert "priority" in decision.rule
    assert any("GLOBAL_STOCKS covers EU_STOCKS" in r for r in decision.reasons)
    assert guide_router().route("7203.T").broker == "ibkr"


def test_crypto_and_forex_broker_without_by_market():
    router = guide_router(broker_selection=BrokerSelection())
    crypto = router.route("ETH/BTC")
    assert (crypto.broker, crypto.rule) == ("binance", "broker_routing.crypto_broker")
    forex = router.route("GBPJPY")
    assert (forex.broker, forex.rule) == ("ibkr", "broker_routing.forex_broker")


def test_by_market_beats_crypto_broker():
    selection = BrokerSelection(by_market={M.CRYPTO: "alpaca"})
    decision = guide_router(broker_selection=selection).route("BTCUSDT")
    assert decision.broker == "alpaca"
    assert decision.candidates[:2] == ("alpaca", "binance")


def test_priority_lowest_number_first():
    selection = BrokerSelection(alphabetical=GUIDE_SELECTION.alphabetical)
    router = guide_router(broker_selection=selection, broker_routing=BrokerRouting())
    decision = router.route("AAPL")
    assert decision.broker == "alpaca"
    assert decision.candidates == ("alpaca", "ibkr")
    assert decision.rule.startswith("broker_selection priority alpaca (priority 1")
    flipped = from_data({"alphabetical": {"alpaca": {"priority": 5}, "ibkr": {"priority": 3}}},
                        BrokerSelection)
    assert Router(broker_selection=flipped, broker_markets=GUIDE_MARKETS).route("AAPL").broker == "ibkr"


EU_MARKETS = {"degiro": frozenset({M.EU_STOCKS}), "ibkr": frozenset({M.GLOBAL_STOCKS}),
              "trading212": frozenset({M.EU_STOCKS})}


def test_by_cost_prefers_commission_free_then_low_cost_and_leaves_out_avoid_high_cost():
    router = Router(broker_selection=BrokerSelection(by_cost=GUIDE_SELECTION.by_cost),
                    broker_markets=EU_MARKETS)
    decision = router.route("SAP.DE")
    assert decision.broker == "trading212"
    assert decision.candidates == ("trading212", "ibkr")
    assert any("degiro: left out" in r and "avoid_high_cost" in r for r in decision.reasons)
    # Even when both others are down, degiro is not used while another broker serves the market.
    with pytest.raises(BrokerUnavailable):
        router.route("SAP.DE", available=down("trading212", "ibkr"))


def test_avoid_high_cost_used_when_it_is_the_only_one():
    router = Router(broker_selection=BrokerSelection(by_cost=GUIDE_SELECTION.by_cost),
                    broker_markets={"degiro": frozenset({M.EU_STOCKS}), "alpaca": frozenset({M.US_STOCKS})})
    assert router.route("ASML.AS").broker == "degiro"


def test_priority_beats_cost_tier_and_tier_breaks_priority_ties():
    selection = from_data({"alphabetical": {"ibkr": {"priority": 1}, "trading212": {"priority": 2}},
                           "by_cost": {"commission_free": ["trading212"], "low_cost": ["ibkr"]}},
                          BrokerSelection)
    assert Router(broker_selection=selection, broker_markets=EU_MARKETS).route("SAP.DE").broker == "ibkr"
    tied = from_data({"alphabetical": {"ibkr": {"priority": 1}, "trading212": {"priority": 1}},
                      "by_cost": {"commission_free": ["trading212"], "low_cost": ["ibkr"]}}, BrokerSelection)
    assert Router(broker_selection=tied, broker_markets=EU_MARKETS).route("SAP.DE").broker == "trading212"


def test_commission_figure_orders_brokers_in_the_same_tier():
    markets = {"a": frozenset({M.US_STOCKS}), "b": frozenset({M.US_STOCKS})}
    router = Router(broker_markets=markets, commission={"a": Decimal("0.005"), "b": Decimal("0.001")})
    assert router.route("AAPL").candidates == ("b", "a")


def test_default_broker_before_other_enabled_brokers():
    markets = {"alpha": frozenset({M.US_STOCKS}), "zeta": frozenset({M.US_STOCKS})}
    router = Router(broker_routing=BrokerRouting(default_broker="zeta"), broker_markets=markets)
    decision = router.route("AAPL")
    assert (decision.broker, decision.rule) == ("zeta", "broker_routing.default_broker")
    assert decision.candidates == ("zeta", "alpha")


def test_default_broker_skipped_when_it_does_not_serve_the_market():
    decision = guide_router(broker_selection=BrokerSelection()).route("ESZ6")
    assert decision.broker == "ibkr"
    assert decision.rule.startswith("enabled broker ibkr")
    assert ("broker_routing.default_broker = alpaca: skipped, alpaca does not serve FUTURES"
            in decision.reasons)


def test_any_enabled_broker_serving_the_market():
    decision = Router(broker_markets={"xtb": frozenset({M.FOREX, M.CFD})}).route("US500")
    assert (decision.broker, decision.market) == ("xtb", M.CFD)


def test_mapping_to_a_disabled_broker_is_skipped_with_a_reason():
    selection = BrokerSelection(by_market={M.EU_STOCKS: "trading212"})
    decision = guide_router(broker_selection=selection).route("VOD.L")
    assert decision.broker == "ibkr"
    assert "broker_selection.by_market.EU_STOCKS = trading212: skipped, trading212 is not enabled" \
        in decision.reasons


def test_no_enabled_broker_serves_the_market():
    with pytest.raises(UsageError) as err:
        guide_router().route("US500")
    assert "no enabled broker serves CFD (symbol US500)" in str(err.value)
    assert "alpaca [CRYPTO, US_STOCKS]" in str(err.value)


# ------------------------------------------------------------------------------------------ route: explicit


def test_explicit_broker_wins_when_it_serves_the_market():
    decision = guide_router().route("aapl", broker="IBKR", available=down())
    assert (decision.broker, decision.rule) == ("ibkr", "explicit")
    assert (decision.symbol, decision.original) == ("AAPL", "aapl")
    assert decision.candidates == ("ibkr",)


def test_explicit_broker_that_does_not_serve_the_market_is_a_usage_error():
    with pytest.raises(UsageError) as err:
        guide_router().route("AAPL", broker="binance")
    assert "binance does not serve US_STOCKS (AAPL); it serves CRYPTO" in str(err.value)
    assert "alpaca, ibkr" in str(err.value)


def test_explicit_broker_not_enabled():
    with pytest.raises(UsageError, match="broker 'xtb' is not enabled"):
        guide_router().route("EURUSD", broker="xtb")


def test_explicit_broker_is_never_replaced_when_unavailable():
    available = down("alpaca")
    with pytest.raises(BrokerUnavailable, match="alpaca is unavailable"):
        guide_router().route("AAPL", broker="alpaca", available=available)
    assert available.asked == ["alpaca"]


def test_explicit_market_override_routes_by_that_market():
    decision = guide_router().route("GOLD", market="US_STOCKS")
    assert (decision.market, decision.broker) == (M.US_STOCKS, "alpaca")


# ------------------------------------------------------------------------------------------ route: fallback


def test_available_broker_is_not_replaced_and_others_are_not_asked():
    available = down()
    decision = guide_router().route("AAPL", available=available)
    assert decision.broker == "alpaca" and not decision.fallback_used
    assert available.asked == ["alpaca"]


def test_fallback_broker_takes_over_when_it_serves_the_market():
    decision = guide_router().route("BTCUSDT", available=down("binance"))
    assert (decision.broker, decision.fallback_used) == ("alpaca", True)
    assert "binance is unavailable (circuit breaker open or cannot connect)" in decision.reasons
    assert "fell back to alpaca (broker_routing.fallback_broker)" in decision.reasons


def test_fallback_broker_is_tried_before_the_next_candidate():
    markets = {n: frozenset({M.US_STOCKS}) for n in ("a", "b", "c")}
    profiles = {"a": {"priority": 1}, "b": {"priority": 2}, "c": {"priority": 3}}
    selection = from_data({"alphabetical": profiles}, BrokerSelection)
    router = Router(broker_routing=BrokerRouting(fallback_broker="c"), broker_selection=selection,
                    broker_markets=markets)
    assert router.route("AAPL", available=down("a")).broker == "c"
    assert router.route("AAPL", available=down("a", "c")).broker == "b"


def test_next_candidate_when_the_fallback_is_the_unavailable_broker():
    # Guide: fallback_broker is alpaca, the very broker that is down for AAPL; ibkr serves US via GLOBAL.
    decision = guide_router().route("AAPL", available=down("alpaca"))
    assert (decision.broker, decision.fallback_used) == ("ibkr", True)
    assert "broker_routing.fallback_broker = alpaca: it is the unavailable broker" in decision.reasons


def test_every_candidate_down_raises_broker_unavailable_naming_them():
    with pytest.raises(BrokerUnavailable) as err:
        guide_router().route("AAPL", available=down("alpaca", "ibkr"))
    assert "no broker can take AAPL (US_STOCKS) now: alpaca, ibkr unavailable" in str(err.value)


def test_fallback_that_does_not_serve_the_market_is_not_used():
    available = down("ibkr")
    with pytest.raises(BrokerUnavailable, match="EURUSD"):
        guide_router().route("EURUSD", available=available)
    assert "alpaca" not in available.asked


def test_explain_renders_every_step():
    decision = guide_router().route("BTCUSDT", available=down("binance"))
    text = decision.explain()
    assert text.splitlines()[0] == "BTCUSDT (CRYPTO) → alpaca  [fallback]"
    for reason in decision.reasons:
        assert reason in text
    assert "BTCUSDT is CRYPTO: crypto pair BTC/USDT" in text
    assert "candidates, in order: binance, alpaca" in text
    plain = guide_router().route("AAPL").explain()
    assert "availability not checked" in plain and "[fallback]" not in plain


# ---------------------------------------------------------------------------------------------- from_config


def test_from_config_uses_enabled_brokers_and_plugin_markets_when_config_has_none():
    class Info:
        markets = frozenset({M.GLOBAL_STOCKS, M.FOREX})

    config = OrchConfig(
        brokers={"alpaca": BrokerSettings(enabled=True, markets=(M.US_STOCKS, M.CRYPTO)),
                 "ibkr": BrokerSettings(enabled=True),
                 "xtb": BrokerSettings(enabled=False, markets=(M.FOREX, M.CFD))},
        broker_routing=GUIDE_ROUTING)
    assert broker_markets_from(config.brokers, {"ibkr": Info()}) == {
        "alpaca": frozenset({M.US_STOCKS, M.CRYPTO}), "ibkr": Info.markets}
    router = Router.from_config(config, {"ibkr": Info(), "xtb": frozenset({M.CFD})})
    assert router.route("EURUSD").broker == "ibkr"
    with pytest.raises(UsageError, match="no enabled broker serves CFD"):
        router.route("DE40")


@pytest.mark.parametrize("symbol, currency", [
    ("BTCUSDT", "USDT"), ("btc/usd", "USD"), ("ETHBTC", "BTC"), ("EURGBP", "GBP"), ("EUR/JPY", "JPY"),
    ("BTCFDUSD", "FDUSD"), ("AAPL", None), ("SAP.DE", None), ("ESZ5", None)])
def test_a_pair_is_priced_in_its_quote_currency(symbol, currency):
    assert pair_quote_currency(symbol) == currency


def test_the_orchestrator_labels_pair_amounts_in_their_quote_currency():
    # A BTCUSDT fill is worth USDT, not dollars: the journal and `orch report` read this currency.
    from orch.orchestrator import Orchestrator
    assert Orchestrator.instrument("btcusdt").currency == "USDT"
    assert Orchestrator.instrument("EURGBP").currency == "GBP"
    assert Orchestrator.instrument("AAPL").currency == "USD"
