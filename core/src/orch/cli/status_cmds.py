"""Operating the connections: ``status brokers``, ``restart broker B``, ``limits B``, ``permissions B``
(the last two also as ``orch <broker> limits|permissions``)."""

from __future__ import annotations

import re
from typing import Any

import attrs
import click

from orch.cli.app import app
from orch.cli.render import ms, num, table
from orch.cli.runner import Mode, mode_options, run_with_orchestrator
from orch.cli.test_cmds import mode_word, timed
from orch.errors import OrchError
from orch.secret import mask

# ------------------------------------------------------------------------------------------ status


def _limiter_data(usage: Any, now: float) -> dict[str, Any]:
    def left(instant: float | None) -> float | None:
        return None if instant is None else round(max(instant - now, 0.0), 3)

    return {"rule": usage.rule, "used": usage.used, "limit": usage.limit, "fraction": round(usage.fraction, 4),
            "waiting": usage.waiting, "penalty_seconds_left": left(usage.penalized_until),
            "halt_seconds_left": left(usage.halted_until), "halt_reason": usage.halt_reason}


async def _status(orch: Any, mode: Mode) -> dict[str, Any]:
    import trio

    names = orch.enabled_brokers()
    failures: dict[str, str] = {}

    async def one(name: str) -> None:
        try:
            mode.check(orch, name)
            await orch.client(name)
        except OrchError as exc:
            failures[name] = mask(str(exc))

    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(one, name)
    clients, now, rows = orch.clients(), trio.current_time(), []
    for name in names:
        try:
            word = mode_word(orch, name)
        except OrchError:
            word = None
        client = clients.get(name)
        row: dict[str, Any] = {"broker": name, "connected": client is not None and client.connected,
                               "mode": word, "error": failures.get(name)}
        if client is not None:
            m = client.metrics()
            row.update(calls=m.calls, errors=m.errors, attempts=m.attempts,
                       latency_p50_ms=None if m.latency_p50 is None else round(m.latency_p50 * 1000, 3),
                       latency_p99_ms=None if m.latency_p99 is None else round(m.latency_p99 * 1000, 3),
                       limiter=_limiter_data(m.limiter, now), breaker=m.breaker_state,
                       consecutive_failures=m.consecutive_failures, last_error=m.last_error)
        rows.append(row)
    halt = orch.journal.halt_state()
    return {"brokers": rows, "halted": None if halt is None else {"reason": halt.reason,
                                                                   "since": halt.since.isoformat()}}


def _status_text(data: dict[str, Any]) -> str:
    rows = []
    for r in data["brokers"]:
        if "calls" in r:
            lim = r["limiter"]
            limiter = f"{lim['used']}/{lim['limit']} {lim['rule']}"
            if lim["halt_seconds_left"]:
                limiter += f" HALTED {lim['halt_seconds_left']:.0f}s"
            elif lim["penalty_seconds_left"]:
                limiter += f" penalty {lim['penalty_seconds_left']:.1f}s"
            p50 = ms(None if r["latency_p50_ms"] is None else r["latency_p50_ms"] / 1000)
            p99 = ms(None if r["latency_p99_ms"] is None else r["latency_p99_ms"] / 1000)
            rows.append((r["broker"], "connected" if r["connected"] else "closed", r["mode"] or "-", p50, p99,
                         f"{r['calls']}/{r['errors']}", limiter, r["breaker"], r["last_error"] or ""))
        else:
            rows.append((r["broker"], "DOWN", r["mode"] or "-", "-", "-", "-", "-", "-", r["error"] or ""))
    lines = [table(rows, ("BROKER", "STATE", "MODE", "P50", "P99", "CALLS/ERR", "LIMITER", "BREAKER",
                          "LAST ERROR"))] if rows else ["No broker is enabled in the config."]
    if data["halted"]:
        lines.append(f"TRADING HALTED since {data['halted']['since']}: {data['halted']['reason']} "
                     f"(`orch resume` lifts it)")
    return "\n".join(lines)


@click.group("status", invoke_without_command=True)
@click.pass_context
def status_group(ctx: click.Context) -> None:
    """Health of the broker connections: orch status brokers."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(status_brokers)


@status_group.command("brokers")
@mode_options
def status_brokers(mode: Mode) -> None:
    """Connect every enabled broker and show: connected, paper or live, latency p50/p99, calls/errors,
    rate-limiter usage, circuit breaker, last error; and whether trading is halted."""
    data = run_with_orchestrator(lambda orch: _status(orch, mode), mode=mode)
    app().emit(data, _status_text(data))
    if any(r["error"] for r in data["brokers"]):
        raise click.exceptions.Exit(1)


# ------------------------------------------------------------------------------------------ restart


@click.group("restart")
def restart_group() -> None:
    """Reconnect a broker: orch restart broker NAME."""


@restart_group.command("broker")
@click.argument("name")
@mode_options
def restart_broker(name: str, mode: Mode) -> None:
    """Close the broker's connection and open a new one (in the shell: the shared connection)."""

    async def go(orch: Any) -> dict[str, Any]:
        mode.check(orch, name)
        was = name in orch.clients()
        _, seconds = await timed(lambda: orch.restart(name))
        return {"broker": name, "was_connected": was, "connect_ms": round(seconds * 1000, 3),
                "mode": mode_word(orch, name)}

    r = run_with_orchestrator(go, mode=mode)
    app().emit(r, f"{name}: {'reconnected' if r['was_connected'] else 'connected'} in "
                  f"{r['connect_ms']:.1f} ms [{r['mode']}]")


# ------------------------------------------------------------------------------------------ limits


def _fields(obj: Any) -> dict[str, Any]:
    if obj is None or not attrs.has(type(obj)):
        return {}
    return {a.name: getattr(obj, a.name) for a in attrs.fields(type(obj)) if getattr(obj, a.name) is not None}


async def _limits(orch: Any, mode: Mode, name: str) -> dict[str, Any]:
    import trio

    from orch.config import broker_settings

    mode.check(orch, name)
    settings = broker_settings(orch.config, name)
    client = await orch.client(name)
    limiter = client.limiter
    # The main budget first, then any the broker limits separately (Alpaca's market data).
    budgets = [(None, limiter), *getattr(limiter, "budgets", {}).items()]
    rules = [{"rule": r.name, "limit": r.limit, "period_seconds": r.period, "weighted": r.weighted,
              "orders_only": r.orders_only, "used": lim.store.used(lim.key, r), "budget": budget}
             for budget, lim in budgets for r in lim.rules]
    account: dict[str, Any] | str
    try:
        a = await client.account()
        account = {"currency": a.currency, "cash": a.cash, "buying_power": a.buying_power, "equity": a.equity,
                   "status": a.status}
    except OrchError as exc:
        account = str(exc)
    return {"broker": name, "mode": mode_word(orch, name), "rate_limits": rules,
            "limiter": _limiter_data(limiter.usage(), trio.current_time()),
            "risk": _fields(orch.config.risk),
            "trading_settings": _fields(getattr(settings, "trading_settings", None)),
            "disabled_order_types": sorted(k for k, v in (getattr(settings, "order_types", None) or {}).items()
                                           if getattr(v, "enabled", True) is False),
            "features": _fields(getattr(settings, "features", None)),
            "account": account}


def _limits_text(d: dict[str, Any]) -> str:
    name = d["broker"]
    lines = [f"{name} [{d['mode']}] rate limits (shared by every orch process using these credentials):"]
    for r in d["rate_limits"]:
        unit = "orders" if r["orders_only"] else ("weight" if r["rule"] == "weight" else "requests")
        where = f"{r['budget']} " if r.get("budget") else ""
        lines.append(f"  {where}{r['rule']}: {r['limit']} {unit} per {r['period_seconds']:g}s, used {r['used']}")
    lim = d["limiter"]
    if lim["halt_seconds_left"]:
        lines.append(f"  HALTED for {lim['halt_seconds_left']:.0f}s: {lim['halt_reason']}")
    elif lim["penalty_seconds_left"]:
        lines.append(f"  slowed down for {lim['penalty_seconds_left']:.1f}s after a 429")
    lines.append("risk limits (risk.*):")
    lines += [f"  {k} = {num(v) if not isinstance(v, bool) else str(v).lower()}" for k, v in d["risk"].items()]
    if d["trading_settings"]:
        lines.append(f"broker limits (brokers.{name}.trading_settings):")
        lines += [f"  {k} = {num(v) if not isinstance(v, (bool, str)) else v}"
                  for k, v in d["trading_settings"].items()]
    if d["disabled_order_types"]:
        lines.append(f"disabled order types: {', '.join(d['disabled_order_types'])}")
    if d["features"]:
        lines.append("features: " + ", ".join(f"{k} {str(v).lower()}" for k, v in d["features"].items()))
    a = d["account"]
    if isinstance(a, dict):
        lines.append(f"account: buying power {num(a['buying_power'])} {a['currency']}, cash {num(a['cash'])}, "
                     f"equity {num(a['equity'])}, status {a['status']}")
    else:
        lines.append(f"account: not available ({a})")
    return "\n".join(lines)


def _limits_command(mode: Mode, name: str) -> None:
    data = run_with_orchestrator(lambda orch: _limits(orch, mode, name), mode=mode)
    app().emit(data, _limits_text(data))


def make_limits_command(broker: str | None) -> click.Command:
    def limits(mode: Mode, name: str | None = None) -> None:
        """Rate-limit rules and their use, risk limits, and the account's buying power."""
        _limits_command(mode, broker or name)

    command = mode_options(limits)
    if broker is None:
        command = click.argument("name", metavar="BROKER")(command)
    return click.command("limits")(command)


# ------------------------------------------------------------------------------------------ permissions

# Account fields that say what the account may do (Alpaca's trading_blocked, Binance's canTrade…).
_PERMISSION_KEY = re.compile(r"block|enabled|permission|^can|status|level|pattern_day|trad", re.IGNORECASE)
_FLAGS = ("notional_orders", "fractional", "short_selling", "extended_hours", "post_only", "iceberg",
          "replace_order", "stream_quotes", "stream_orders", "list_fills", "quotes")


async def _permissions(orch: Any, mode: Mode, name: str) -> dict[str, Any]:
    from orch.config import broker_settings

    mode.check(orch, name)
    info = orch.loaded(name).info
    caps = info.capabilities
    settings = broker_settings(orch.config, name)
    client = await orch.client(name)
    account = await client.account()
    return {
        "broker": name, "mode": mode_word(orch, name), "official": info.official,
        "account": {"id": account.account_id, "status": account.status, "paper": account.paper,
                    "flags": {k: v for k, v in sorted(account.raw.items()) if _PERMISSION_KEY.search(k)}},
        "capabilities": {"order_types": sorted(t.value for t in caps.order_types),
                         "time_in_force": sorted(t.value for t in caps.time_in_force),
                         "order_classes": sorted(c.value for c in caps.order_classes),
                         **{flag: getattr(caps, flag) for flag in _FLAGS}, "notes": list(caps.notes)},
        "config": {"disabled_order_types": sorted(k for k, v in (getattr(settings, "order_types", None)
                                                                 or {}).items()
                                                  if getattr(v, "enabled", True) is False),
                   "features": _fields(getattr(settings, "features", None))},
    }


def _permissions_text(d: dict[str, Any]) -> str:
    a, c = d["account"], d["capabilities"]
    lines = [f"{d['broker']} [{d['mode']}] account {a['id']}: status {a['status']}"]
    lines += [f"  {k}: {v}" for k, v in a["flags"].items()]
    lines.append(f"order types: {', '.join(c['order_types'])}")
    lines.append(f"time in force: {', '.join(c['time_in_force'])}")
    lines.append(f"order classes: {', '.join(c['order_classes'])}")
    lines.append("supports: " + ", ".join(f for f in _FLAGS if c[f]))
    missing = [f for f in _FLAGS if not c[f]]
    if missing:
        lines.append("does not support: " + ", ".join(missing))
    lines += [f"note: {n}" for n in c["notes"]]
    cfg = d["config"]
    if cfg["disabled_order_types"]:
        lines.append(f"disabled in config: {', '.join(cfg['disabled_order_types'])}")
    if cfg["features"]:
        lines.append("config features: " + ", ".join(f"{k} {str(v).lower()}" for k, v in cfg["features"].items()))
    return "\n".join(lines)


def make_permissions_command(broker: str | None) -> click.Command:
    def permissions(mode: Mode, name: str | None = None) -> None:
        """What the account and the plugin allow: account flags, order types, time in force, features."""
        who = broker or name
        data = run_with_orchestrator(lambda orch: _permissions(orch, mode, who), mode=mode)
        app().emit(data, _permissions_text(data))

    command = mode_options(permissions)
    if broker is None:
        command = click.argument("name", metavar="BROKER")(command)
    return click.command("permissions")(command)


limits_command = make_limits_command(None)
permissions_command = make_permissions_command(None)
