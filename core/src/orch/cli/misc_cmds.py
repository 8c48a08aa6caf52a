"""``orch route`` (explain a routing decision offline), ``orch halt`` / ``orch resume`` (the journal's kill
switch) and ``orch logs`` (the log file of ``logging.file``)."""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any

import click

from orch.cli.app import app
from orch.cli.order_cmds import _market, market_option
from orch.cli.runner import ChoiceParam, injected, json_option, load_app_config, run_with_orchestrator
from orch.errors import UsageError

# ------------------------------------------------------------------------------------------ route


@click.command("route")
@json_option
@click.argument("symbol")
@click.option("--broker", default=None, help="Check an explicit choice instead of routing.")
@market_option
def route_command(symbol: str, broker: str | None, market: str | None) -> None:
    """Explain which broker an order for SYMBOL would go to, and why. Connects nowhere (so broker
    availability is not checked).

    \b
    Example:
      orch route BTCUSDT
    """
    found = injected()
    if found is not None:
        router = found.orchestrator.router()
    else:
        from orch.orchestrator import build_router

        router = build_router(load_app_config())
    decision = router.route(symbol, market=_market(market), broker=broker)
    app().emit(decision, decision.explain())


# ------------------------------------------------------------------------------------------ kill switch


@click.command("halt")
@json_option
@click.argument("reason", nargs=-1)
def halt_command(reason: tuple[str, ...]) -> None:
    """Stop all new orders (every orch process sharing the journal) until `orch resume`. Open orders at
    the brokers stay open: cancel them with `orch order cancel ID`."""
    text = " ".join(reason).strip() or "halted from the command line"

    async def go(orch: Any) -> Any:
        before = orch.journal.halt_state()
        return before, orch.journal.set_halt(text)

    before, state = run_with_orchestrator(go, reconcile=False)
    since = state.since.astimezone().isoformat(timespec="seconds")
    human = (f"trading was already halted since {since}: {state.reason}" if before is not None
             else f"trading halted since {since}: {state.reason}")
    app().emit({"halted": True, "reason": state.reason, "since": state.since, "already": before is not None},
               human + "\n(open orders stay open; `orch resume` lifts the halt)")


@click.command("resume")
@json_option
def resume_command() -> None:
    """Lift the halt set by `orch halt` or by the daily loss limit."""

    async def go(orch: Any) -> Any:
        return orch.journal.clear_halt()

    cleared = run_with_orchestrator(go, reconcile=False)
    if cleared is None:
        app().emit({"halted": False, "cleared": None}, "trading was not halted")
    else:
        since = cleared.since.astimezone().isoformat(timespec="seconds")
        app().emit({"halted": False, "cleared": {"reason": cleared.reason, "since": cleared.since}},
                   f"trading resumed (it was halted since {since}: {cleared.reason})")


# ------------------------------------------------------------------------------------------ logs

LEVELS = ("debug", "info", "warning", "error", "critical")
_RECORD = re.compile(r"^(?P<time>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?) (?P<level>[A-Z]+) "
                     r"(?P<name>[^\s:]+): (?P<message>.*)$")


def _matches_broker(name: str, message: str, broker: str) -> bool:
    parts = re.split(r"[._]", name)
    return broker in parts or name.endswith(f"_{broker}") or re.search(
        rf"(?<![\w-]){re.escape(broker)}(?![\w-])", message) is not None


def read_log(path: Path, *, broker: str | None, level: str | None, lines: int) -> list[dict[str, str]]:
    """The last ``lines`` records of the log file matching the filters (a record keeps its traceback
    lines). Memory stays bounded however big the file is."""
    import logging

    floor = logging.getLevelName(level.upper()) if level else 0
    kept: deque[dict[str, str]] = deque(maxlen=lines)
    current: dict[str, str] | None = None

    def flush() -> None:
        if current is None:
            return
        number = logging.getLevelName(current["level"])
        if isinstance(number, int) and number < floor:
            return
        if broker and not _matches_broker(current["logger"], current["message"], broker):
            return
        kept.append(current)

    with path.open(encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            match = _RECORD.match(line)
            if match:
                flush()
                current = {"time": match["time"], "level": match["level"], "logger": match["name"],
                           "message": match["message"]}
            elif current is not None:
                current["message"] += "\n" + line
        flush()
    return list(kept)


@click.command("logs")
@json_option
@click.argument("words", nargs=-1, metavar="[broker NAME]")
@click.option("--level", type=ChoiceParam("--level", LEVELS), default=None,
              help="Only records at this level or above.")
@click.option("--lines", type=click.IntRange(1), default=50, show_default=True, help="How many records.")
@click.option("--file", "file_option", type=click.Path(dir_okay=False), default=None,
              help="Read this file instead of the config's logging.file.")
def logs_command(words: tuple[str, ...], level: str | None, lines: int, file_option: str | None) -> None:
    """The latest records of the log file (logging.file in the config), optionally for one broker.

    \b
    Example:
      orch logs broker alpaca --level error
    """
    from orch.logs import redact

    if len(words) == 2 and words[0] == "broker":
        broker: str | None = words[1]
    elif len(words) == 1 and words[0] != "broker":
        broker = words[0]
    elif not words:
        broker = None
    else:
        raise UsageError(f"logs: expected `logs [broker NAME]`, got {' '.join(words)!r}")
    if file_option:
        path = Path(file_option)
    else:
        found = injected()
        if found is not None:
            config = found.orchestrator.config
        else:
            from orch.config import load_config

            config = load_config(app().config_path, resolve_plugins=False)
        if not config.logging.file:
            raise UsageError('file logging is off (logging.file = "")', hint="set logging.file in the config")
        path = Path(config.logging.file).expanduser()
    if not path.exists():
        app().emit([], f"No log file at {path} yet.")
        return
    records = read_log(path, broker=broker, level=level, lines=lines)
    for record in records:
        record["message"] = redact(record["message"])
    human = "\n".join(f"{r['time']} {r['level']} {r['logger']}: {r['message']}" for r in records)
    app().emit(records, human or f"No matching records in {path}.")
