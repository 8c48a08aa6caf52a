"""Running a command's async work with an open :class:`~orch.orchestrator.Orchestrator`.

Every command that touches brokers or the journal goes through :func:`run_with_orchestrator`::

    @click.command()
    @mode_options
    def account(mode: Mode) -> None:
        result = run_with_orchestrator(lambda orch: orch.accounts(), mode=mode)

One-shot (``orch alpaca account``): the config is loaded (``--config``/``ORCH_CONFIG``), the order journal
opened (``journal.path``, else ``$ORCH_HOME``, else the user state directory), the log file of
``logging.file`` enabled, and the function run under ``trio.run``; connections close when it returns.

Injected (``orch shell``): the shell keeps ONE orchestrator open in its trio loop and dispatches each line
to the same click commands from a worker thread, with an :class:`Injected` in ``ctx.meta[INJECTED]``. The
function then runs in the shell's loop (``trio.from_thread.run``) on the already-open orchestrator, so
connections survive from one command to the next. Plugins' own commands (``orch_commands``) should use
this helper too, so they work in both.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import click

from orch.cli.app import app
from orch.errors import LiveTradingRefused, OrchError, UsageError

T = TypeVar("T")

INJECTED = "orch.injected_orchestrator"
NON_LIVE_FLAGS = ("paper", "testnet", "practice", "demo")


class Interrupted(OrchError):
    """Ctrl-C in the shell stopped the running command (the shell goes on)."""

    exit_code = 130


@attrs.define
class Injected:
    """An orchestrator that is already open, in the trio loop whose ``token`` is given. ``scope`` is the
    cancel scope of the command running now (the shell cancels it on Ctrl-C)."""

    orchestrator: Any
    token: Any
    scope: Any = None


def injected(ctx: click.Context | None = None) -> Injected | None:
    ctx = ctx or click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(INJECTED)


# ------------------------------------------------------------------------------------------ mode flags


@attrs.frozen
class Mode:
    """``--live`` and the non-live assertions (``--paper``, ``--testnet``, ``--practice``, ``--demo``, all
    synonyms: the guide writes ``ibkr order … --testnet``). ``asserted`` is the flag word used, if any."""

    live: bool = False
    asserted: str | None = None

    def check(self, orch: Any, name: str) -> None:
        """Refuse before connecting when the flags and ``brokers.<name>``'s endpoint disagree, in either
        direction: never a silent paper/live mix-up."""
        from orch.config import broker_settings
        from orch.orchestrator import check_live_guard

        settings = broker_settings(orch.config, name)
        flag = orch.loaded(name).info.paper_flag
        if self.asserted and not orch.is_paper(name):
            raise LiveTradingRefused(
                f"--{self.asserted} given but brokers.{name}.{flag} is false, which selects the LIVE "
                f"endpoint", hint=f"set {flag} = true to trade on paper, or use --live for real money")
        check_live_guard(name, settings, flag, self.live)


def mode_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--live``, ``--paper/--testnet/--practice/--demo`` (the command receives ``mode: Mode``) and
    ``--json``."""

    @functools.wraps(function)
    def wrapper(*args: Any, live: bool, paper: bool, testnet: bool, practice: bool, demo: bool,
                **kwargs: Any) -> Any:
        given = [word for word, on in zip(NON_LIVE_FLAGS, (paper, testnet, practice, demo)) if on]
        if live and given:
            raise UsageError(f"--live and --{given[0]} contradict each other", hint="give one of them")
        return function(*args, mode=Mode(live=live, asserted=given[0] if given else None), **kwargs)

    options = [click.option("--live", is_flag=True,
                            help="Use the LIVE endpoint (real money); the broker's config must select it too.")]
    options += [click.option(f"--{word}", is_flag=True,
                             help="Assert the non-live endpoint (refused if the config selects live)."
                             if word == "paper" else "Same as --paper.")
                for word in NON_LIVE_FLAGS]
    for option in reversed(options):
        wrapper = option(wrapper)
    return json_option(wrapper)


# ------------------------------------------------------------------------------------------ running


def _file_log(config: Any) -> None:
    from orch.logs import enable_file_log

    enable_file_log(config.logging.file, config.logging.level)


def load_app_config(ctx: click.Context | None = None) -> Any:
    """The config the command runs with: the shell's orchestrator's, else ``--config``'s."""
    found = injected(ctx)
    if found is not None:
        return found.orchestrator.config
    from orch.config import load_config

    return load_config(app(ctx).config_path)


def run_with_orchestrator(function: Callable[[Any], Awaitable[T]], *, mode: Mode | None = None,
                          ctx: click.Context | None = None, reconcile: bool = True) -> T:
    """Run ``await function(orchestrator)`` with an open orchestrator and return its result.

    ``mode`` carries ``--live``: it must match an injected orchestrator's (the shell was opened with or
    without ``--live``) and opens a one-shot one in that mode."""
    ctx = ctx or click.get_current_context()
    mode = mode or Mode()
    found = injected(ctx)
    if found is not None:
        return _run_injected(found, function, mode)

    import trio

    from orch.orchestrator import Orchestrator

    config = load_app_config(ctx)
    _file_log(config)

    async def main() -> T:
        async with Orchestrator.open(config, live=mode.live, reconcile=reconcile) as orch:
            return await function(orch)

    return trio.run(main)


def _run_injected(found: Injected, function: Callable[[Any], Awaitable[T]], mode: Mode) -> T:
    import trio

    orch = found.orchestrator
    if mode.live and not orch.live:
        raise LiveTradingRefused("--live given but this shell runs without --live",
                                 hint="leave it and start `orch shell --live` to trade with real money")
    if orch.live and mode.asserted:
        raise LiveTradingRefused(f"--{mode.asserted} given but this shell runs with --live",
                                 hint="start `orch shell` without --live for paper trading")
    if orch.live and not mode.live:
        raise LiveTradingRefused("this shell runs with --live: add --live to each command that uses a broker",
                                 hint="so that no line ever reaches a live account by accident")
    _file_log(orch.config)

    async def cancellable() -> T:
        with trio.CancelScope() as scope:
            found.scope = scope
            try:
                return await function(orch)
            finally:
                found.scope = None
        raise Interrupted("interrupted")

    return trio.from_thread.run(cancellable, trio_token=found.token)


# ------------------------------------------------------------------------------------------ parsing


class DecimalParam(click.ParamType):
    """A positive decimal number, parsed exactly (never through float). A bad value is one line naming
    the argument, exit code 2."""

    name = "decimal"

    def __init__(self, label: str, *, allow_zero: bool = False) -> None:
        self.label = label
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            return value
        return parse_decimal(str(value), self.label, allow_zero=self.allow_zero)


def parse_decimal(text: str, label: str, *, allow_zero: bool = False) -> Decimal:
    from decimal import InvalidOperation

    cleaned = text.strip().replace("_", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        what = "a non-negative" if allow_zero else "a positive"
        raise UsageError(f"{label}: expected {what} decimal number, got {text!r}")
    return value


class ChoiceParam(click.ParamType):
    """A word from a fixed list, case-insensitive; a bad one is one line naming the argument."""

    name = "choice"

    def __init__(self, label: str, choices: tuple[str, ...]) -> None:
        self.label = label
        self.choices = choices

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        word = str(value).strip().lower().replace("-", "_")
        if word not in self.choices:
            raise UsageError(f"{self.label}: expected one of {', '.join(self.choices)}, got {value!r}")
        return word


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``--since``: an ISO date or date-time (local time when no offset is given), ``today``, or a span
    back from now such as ``30m``, ``2h``, ``7d``."""
    raw = text.strip()
    now = now or datetime.now(timezone.utc)
    if raw.lower() == "today":
        local = now.astimezone()
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    relative = _RELATIVE.match(raw)
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2).lower()]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"--since: expected an ISO date/time, 'today' or a span like 30m, 2h, 7d; got {text!r}"
                         ) from None
    return moment.astimezone() if moment.tzinfo is None else moment


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        app(ctx).as_json = True


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` after the command name too (``orch report --json``), same as ``orch --json report``."""
    return click.option("--json", "json_output", is_flag=True, expose_value=False, callback=_set_json,
                        help="Print data as JSON.")(function)
