"""``orch test …``: is a broker reachable, are its keys accepted, how long does a round trip take.

\b
  orch test alpaca connection     connect (authenticate) and fetch the account, with timings
  orch test alpaca api_key        are the credentials accepted? (says where the key came from)
  orch test broker alpaca         connect, account and quote round trips, each timed
"""

from __future__ import annotations

from typing import Any

import click

from orch.cli.app import app
from orch.cli.render import ms, num
from orch.cli.runner import Mode, mode_options, run_with_orchestrator
from orch.errors import OrchError

# A symbol every broker serving the market should know, for the quote round trip.
SAMPLE_SYMBOLS = {"US_STOCKS": "AAPL", "GLOBAL_STOCKS": "AAPL", "EU_STOCKS": "SAP.DE", "CRYPTO": "BTC/USDT",
                  "FOREX": "EUR/USD", "CFD": "US500"}


def endpoint(orch: Any, name: str) -> str | None:
    """Where the broker's connection goes (no secret in it)."""
    from orch.config import broker_settings
    from orch.secret import mask

    settings = broker_settings(orch.config, name)
    for attr in ("base_url", "url", "server"):
        value = getattr(settings, attr, None)
        if isinstance(value, str) and value:
            return mask(value)
    host, port = getattr(settings, "host", None), getattr(settings, "port", None)
    if host:
        return f"{host}:{port}" if port else str(host)
    info = orch.loaded(name).info
    key = info.paper_flag if orch.is_paper(name) else "live"
    return info.endpoints.get(key) or (info.endpoints.get("paper") if key != "live" else None)


def mode_word(orch: Any, name: str) -> str:
    return "paper" if orch.is_paper(name) else "LIVE"


async def timed(call: Any) -> tuple[Any, float]:
    import trio

    started = trio.current_time()
    result = await call()
    return result, trio.current_time() - started


async def _connection(orch: Any, mode: Mode, name: str) -> dict[str, Any]:
    mode.check(orch, name)
    already = name in orch.clients()
    client, connect_s = await timed(lambda: orch.client(name))
    account, account_s = await timed(client.account)
    return {"broker": name, "mode": mode_word(orch, name), "endpoint": endpoint(orch, name),
            "already_connected": already, "connect_ms": None if already else round(connect_s * 1000, 3),
            "account_ms": round(account_s * 1000, 3), "account_id": account.account_id,
            "account_status": account.status}


def _connection_text(r: dict[str, Any]) -> str:
    how = "already connected" if r["already_connected"] else f"connected in {r['connect_ms']:.1f} ms"
    return (f"{r['broker']}: {how} [{r['mode']}] to {r['endpoint'] or '-'}; account {r['account_id']} "
            f"({r['account_status']}) answered in {r['account_ms']:.1f} ms")


def _secret_sources(orch: Any, name: str) -> dict[str, str]:
    import attrs

    from orch.config import broker_settings
    from orch.secret import Secret

    settings = broker_settings(orch.config, name)
    return {a.name: getattr(settings, a.name).source for a in attrs.fields(type(settings))
            if isinstance(getattr(settings, a.name), Secret)}


async def _api_key(orch: Any, mode: Mode, name: str) -> dict[str, Any]:
    mode.check(orch, name)
    client = await orch.client(name)
    account = await client.account()
    return {"broker": name, "accepted": True, "mode": mode_word(orch, name), "account_id": account.account_id,
            "account_status": account.status, "secrets": _secret_sources(orch, name)}


def _api_key_text(r: dict[str, Any]) -> str:
    sources = ", ".join(f"{k} from {v}" for k, v in r["secrets"].items()) or "no secret fields"
    return (f"{r['broker']}: credentials accepted ({sources}); account {r['account_id']} "
            f"({r['account_status']}) [{r['mode']}]")


def make_broker_test_group(name: str) -> click.Group:
    group = click.Group(name, help=f"Check the {name} connection and credentials.")

    @group.command("connection")
    @mode_options
    def connection(mode: Mode) -> None:
        """Connect (authenticate) and fetch the account, with timings."""
        result = run_with_orchestrator(lambda orch: _connection(orch, mode, name), mode=mode)
        app().emit(result, _connection_text(result))

    @group.command("api_key")
    @mode_options
    def api_key(mode: Mode) -> None:
        """Are the credentials accepted? Says where each secret came from (never its value)."""
        result = run_with_orchestrator(lambda orch: _api_key(orch, mode, name), mode=mode)
        app().emit(result, _api_key_text(result))

    group.add_command(api_key, "api-key")
    return group


async def _round_trip(orch: Any, mode: Mode, name: str, symbol: str | None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []

    async def step(what: str, call: Any) -> Any:
        try:
            result, seconds = await timed(call)
        except OrchError as exc:
            steps.append({"step": what, "ok": False, "ms": None, "detail": str(exc)})
            return None
        steps.append({"step": what, "ok": True, "ms": round(seconds * 1000, 3), "detail": None})
        return result

    mode.check(orch, name)
    client = await step("connect", lambda: orch.client(name))
    if client is not None:
        steps[-1]["detail"] = f"[{mode_word(orch, name)}] {endpoint(orch, name) or ''}".strip()
        account = await step("account", client.account)
        if account is not None:
            steps[-1]["detail"] = f"{account.account_id} {account.status}"
        if symbol is None:
            served = {m.value for m in orch.router().served_markets(name)}
            symbol = next((sample for market, sample in SAMPLE_SYMBOLS.items() if market in served), None)
        if symbol is None or not client.capabilities.quotes:
            steps.append({"step": "quote", "ok": True, "ms": None,
                          "detail": "skipped (no sample symbol for its markets; pass --symbol)" if symbol is None
                          else "skipped (the broker's API has no quotes)"})
        else:
            quote = await step(f"quote {symbol}",
                               lambda: client.quote(orch.instrument(symbol)))
            if quote is not None:
                steps[-1]["detail"] = f"bid {num(quote.bid)} ask {num(quote.ask)} last {num(quote.last)}"
    return {"broker": name, "ok": all(s["ok"] for s in steps), "steps": steps}


@click.command("broker")
@click.argument("name")
@click.option("--symbol", default=None, help="Symbol for the quote round trip (default: one per market).")
@mode_options
def test_broker_command(name: str, symbol: str | None, mode: Mode) -> None:
    """Connect, fetch the account and a quote, timing each round trip."""
    from orch.plugins import missing_plugin_error

    missing = missing_plugin_error(name)
    if missing is not None:
        raise missing
    result = run_with_orchestrator(lambda orch: _round_trip(orch, mode, name, symbol), mode=mode)
    lines = [f"{name}: {'ok' if result['ok'] else 'FAILED'}"]
    for s in result["steps"]:
        mark = "ok  " if s["ok"] else "FAIL"
        lines.append(f"  {mark} {s['step']:<16} {ms(s['ms'] / 1000) if s['ms'] is not None else '':>10}  "
                     f"{s['detail'] or ''}".rstrip())
    app().emit(result, "\n".join(lines))
    if not result["ok"]:
        raise click.exceptions.Exit(1)


class TestGroup(click.Group):
    """``test broker NAME`` and ``test NAME connection|api_key`` (NAME: an installed broker)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from orch.plugins import installed_broker_names

        return ["broker", *installed_broker_names()]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "broker":
            return test_broker_command
        from orch.plugins import installed_broker_names

        if name in installed_broker_names():
            return make_broker_test_group(name)
        from orch.plugins import missing_plugin_error

        missing = missing_plugin_error(name)
        if missing is not None and not ctx.resilient_parsing:
            raise missing
        return None


test_group = TestGroup("test", help="""Check a broker: is it reachable, are its keys accepted, how long
does a round trip take.

\b
  orch test alpaca connection     connect (authenticate) and fetch the account, with timings
  orch test alpaca api_key        are the credentials accepted? (says where each key came from)
  orch test broker alpaca         connect, account and quote round trips, each timed
""")
