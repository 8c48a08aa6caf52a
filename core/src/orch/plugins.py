"""Broker plugins: discovery, the unofficial opt-in, loading and contract checks.

This is the only core module that touches pluggy. What it guarantees:

* **Discovery reads metadata only.** :func:`installed_plugins` lists the ``orch.brokers`` entry points and
  their distributions' metadata; nothing is imported, so ``orch --help`` and ``orch plugins`` stay fast and
  an opt-in broker stays unloaded. A distribution marks itself unofficial with the keyword
  ``orch-unofficial`` in its metadata, so the core knows before importing it.
* **Unofficial plugins are gated.** :func:`gate` says why an unofficial plugin may not load unless its config
  section has ``enabled = true`` and ``acknowledge_unofficial = true``; :func:`load_gated` applies it.
* **Loading checks the contract** (:func:`load_plugin`). pluggy validates every hookimpl against
  :mod:`orch.hookspecs`; then the plugin's *own* implementation of each per-broker hook is taken (filtered
  by plugin name, never ``subset_hook_caller``: its subset is defined by exclusion, so a plugin registered
  later would join it and an order could reach the wrong broker) into an immutable table the core calls
  directly. Required hooks, async-ness, ``BrokerInfo`` and capabilities are checked; any failure is one
  :class:`~orch.errors.PluginError` line, ``plugin 'x' refused: …``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from attrs import frozen

from orch.errors import PluginError

if TYPE_CHECKING:
    import pluggy

    from orch.models import BrokerInfo

log = logging.getLogger("orch.plugins")

# Equal to orch.hookspecs.ENTRY_POINT_GROUP (a test keeps them equal). Not imported from there because
# hookspecs pulls in pluggy, which `orch --help` never needs.
GROUP = "orch.brokers"
UNOFFICIAL_KEYWORD = "orch-unofficial"

STREAM_HOOKS = ("orch_stream_orders", "orch_stream_quotes")
BROADCAST_HOOKS = ("orch_cli_ready",)

UNOFFICIAL_RISK = (
    "it uses an unofficial web API that the broker does not offer for automated use; using it may breach "
    "the broker's terms of service and the account could be locked"
)


@frozen
class PluginEntry:
    """One ``orch.brokers`` entry point, from metadata alone. ``module`` is the module the entry point names
    (``attr`` the object inside it, if the entry point names one)."""

    name: str
    module: str
    dist_name: str | None
    version: str | None
    unofficial: bool
    attr: str | None = None


@frozen
class LoadedBroker:
    """A plugin that passed the contract checks. ``hooks`` maps each per-broker hook the plugin implements
    to a callable taking the hookspec's arguments (positionally or by name); async hooks return a
    coroutine to await, stream hooks an async iterator. Broadcast hooks are not in it (see
    :func:`broadcast_pm`)."""

    name: str
    entry: PluginEntry
    info: BrokerInfo
    hooks: Mapping[str, Callable[..., Any]]

    def has(self, hook: str) -> bool:
        return hook in self.hooks


@frozen
class PluginStatus:
    """One row of ``orch plugins``. ``state`` is ``unchecked`` (metadata only), ``ok``, ``refused``,
    ``gated`` (unofficial and not opted in: never imported) or ``not_installed`` (a config section with no
    plugin). ``problem`` says why for the last three; ``notice`` is the plugin's risk/service notice."""

    name: str
    state: str
    official: bool | None
    configured: bool
    enabled: bool
    version: str | None = None
    dist_name: str | None = None
    title: str | None = None
    problem: str | None = None
    notice: str | None = None


# ------------------------------------------------------------------------------------------- discovery

_lock = threading.RLock()
_entries: dict[str, PluginEntry] | None = None
_loaded: dict[str, LoadedBroker | str] = {}  # a str is the cached refusal message
_pm: pluggy.PluginManager | None = None


def _keywords(dist: metadata.Distribution | None) -> set[str]:
    if dist is None:
        return set()
    found: set[str] = set()
    for value in dist.metadata.get_all("Keywords") or ():
        found.update(k.lower() for k in re.split(r"[,\s]+", value) if k)
    return found


def _discover() -> dict[str, PluginEntry]:
    global _entries
    with _lock:
        if _entries is None:
            found: dict[str, PluginEntry] = {}
            for ep in metadata.entry_points(group=GROUP):
                dist = getattr(ep, "dist", None)
                if ep.name in found:
                    # sys.path order decides, as it would for the import itself.
                    log.warning("broker plugin %r is declared twice (%s and %s); using the first",
                                ep.name, found[ep.name].dist_name, dist.name if dist else "?")
                    continue
                found[ep.name] = PluginEntry(
                    name=ep.name, module=ep.module, attr=ep.attr or None,
                    dist_name=dist.name if dist else None, version=dist.version if dist else None,
                    unofficial=UNOFFICIAL_KEYWORD in _keywords(dist))
            _entries = dict(sorted(found.items()))
        return _entries


def installed_plugins() -> list[PluginEntry]:
    """Every installed broker plugin, sorted by name, from entry-point metadata only (cached)."""
    return list(_discover().values())


def installed_broker_names() -> list[str]:
    return list(_discover())


def plugin_entry(name: str) -> PluginEntry:
    """The entry for ``name``; PluginError naming the installed ones if there is none."""
    entries = _discover()
    try:
        return entries[name]
    except KeyError:
        have = ", ".join(entries) or "none"
        raise PluginError(f"no broker plugin named '{name}' is installed (installed: {have})") from None


# The brokers of the integration guide, each with the extra of the "orch" distribution that installs it:
# a guide command naming one whose plugin is absent says how to get it instead of "no such command".
GUIDE_BROKERS: Mapping[str, str] = MappingProxyType({
    "alpaca": "alpaca", "binance": "binance", "ibkr": "ibkr", "trading212": "trading212", "xtb": "xtb",
    "degiro": "degiro", "trade_republic": "trade-republic"})


def missing_plugin_error(name: str) -> PluginError | None:
    """The one-line error for a guide broker whose plugin is not installed; None for an installed plugin or
    a name that is no guide broker."""
    entries = _discover()
    if name in entries or name not in GUIDE_BROKERS:
        return None
    have = ", ".join(entries) or "none"
    return PluginError(f"the {name} broker plugin is not installed (installed: {have})",
                       hint=f"install it with: pip install 'orch[{GUIDE_BROKERS[name]}]'")


def is_unofficial(name: str) -> bool:
    """From metadata alone: does the plugin's distribution carry the ``orch-unofficial`` keyword?"""
    return plugin_entry(name).unofficial


def refresh() -> None:
    """Forget discovered entry points and loaded plugins: for a process that installs or removes a plugin
    distribution while running (tests). Imported modules stay in ``sys.modules``."""
    global _entries, _pm
    with _lock:
        importlib.invalidate_caches()
        _entries = None
        _loaded.clear()
        _pm = None


# ------------------------------------------------------------------------------------------- opt-in


def _flag(section: Any, key: str) -> bool:
    if section is None:
        return False
    value = section.get(key) if isinstance(section, Mapping) else getattr(section, key, None)
    return value is True


def gate(name: str, raw_section: Mapping[str, Any] | None) -> str | None:
    """Why ``name`` may not be loaded with this config section, or None if it may. Only unofficial plugins
    are gated: they need ``enabled = true`` and ``acknowledge_unofficial = true``."""
    if not is_unofficial(name):
        return None
    missing = [key for key in ("enabled", "acknowledge_unofficial") if not _flag(raw_section, key)]
    if not missing:
        return None
    return (f"broker '{name}' is an unofficial plugin and stays unloaded: {UNOFFICIAL_RISK}. To use it anyway, "
            f"set enabled = true and acknowledge_unofficial = true in the brokers.{name} section of your "
            f"config (not set: {', '.join(missing)})")


def load_gated(name: str, raw_section: Mapping[str, Any] | None) -> LoadedBroker:
    """:func:`load_plugin` after :func:`gate`: what the core calls when it uses a configured broker."""
    reason = gate(name, raw_section)
    if reason:
        raise PluginError(reason)
    return load_plugin(name)


# ------------------------------------------------------------------------------------------- loading


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _plugin_manager() -> pluggy.PluginManager:
    global _pm
    with _lock:
        if _pm is None:
            import pluggy

            from orch import hookspecs

            pm = pluggy.PluginManager(hookspecs.PROJECT)
            pm.add_hookspecs(hookspecs)
            _pm = pm
        return _pm


def broadcast_pm() -> pluggy.PluginManager:
    """The plugin manager, for broadcast hooks only (``pm.hook.orch_cli_ready(cli=…)``). It holds the
    plugins loaded (and accepted) in this process. Never call a per-broker hook through it."""
    return _plugin_manager()


def load_plugin(name: str) -> LoadedBroker:
    """Import, register and check the plugin ``name`` (once per process; a refusal is remembered too).
    Does not apply the unofficial opt-in: callers holding a config section use :func:`load_gated`."""
    entry = plugin_entry(name)
    with _lock:
        result = _loaded.get(name)
        if result is None:
            try:
                result = _load(entry)
            except PluginError as exc:
                result = str(exc)
            _loaded[name] = result
    if isinstance(result, str):
        raise PluginError(result)
    return result


def _import(entry: PluginEntry) -> object:
    try:
        obj: object = importlib.import_module(entry.module)
        for part in (entry.attr or "").split(".") if entry.attr else ():
            obj = getattr(obj, part)
    except (Exception, SystemExit) as exc:  # a plugin's import must never take the caller down
        target = f"{entry.module}:{entry.attr}" if entry.attr else entry.module
        raise PluginError(f"plugin '{entry.name}' could not be imported ({target}): {_one_line(exc)}") from None
    return obj


def _load(entry: PluginEntry) -> LoadedBroker:
    import pluggy

    obj = _import(entry)
    pm = _plugin_manager()
    try:
        registered = pm.register(obj, name=entry.name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin '{entry.name}' refused: {' '.join(str(exc).split())}") from None
    if registered is None:
        raise PluginError(f"plugin '{entry.name}' refused: its entry point resolves to nothing")
    try:
        return _check(entry, obj, pm)
    except PluginError:
        pm.unregister(name=entry.name)
        raise


def _adapt(spec_argnames: tuple[str, ...], function: Callable[..., Any],
           argnames: tuple[str, ...]) -> Callable[..., Any]:
    """pluggy lets an impl take a subset of the spec's arguments, in any order; the table's callables take
    the spec's arguments, so only such impls get a small adapter."""
    if tuple(argnames) == tuple(spec_argnames):
        return function

    def call(*args: Any, **kwargs: Any) -> Any:
        given = dict(zip(spec_argnames, args))
        given.update(kwargs)
        return function(*[given[n] for n in argnames])

    call.__wrapped__ = function  # type: ignore[attr-defined]
    call.__name__ = getattr(function, "__name__", "hook")
    return call


def _check(entry: PluginEntry, plugin: object, pm: pluggy.PluginManager) -> LoadedBroker:
    from orch import hookspecs
    from orch.models import BrokerInfo
    from orch.settings import BrokerSettings

    problems: list[str] = []
    bad: set[str] = set()  # hooks whose shape is wrong, so they are not called below
    impls = {}
    for caller in pm.get_hookcallers(plugin) or ():
        own = [impl for impl in caller.get_hookimpls() if impl.plugin_name == entry.name]
        if caller.spec is None:
            problems.append(f"implements unknown hook {caller.name} (no such hookspec)")
        elif len(own) > 1:
            problems.append(f"implements {caller.name} {len(own)} times")
        elif own:
            impls[caller.name] = (caller, own[0])

    missing = [hook for hook in hookspecs.REQUIRED_HOOKS if hook not in impls]
    if missing:
        problems.append(f"missing required hook{'s' if len(missing) > 1 else ''} {', '.join(missing)}")

    for hook, (caller, impl) in impls.items():
        if hook in BROADCAST_HOOKS:
            continue
        problem = _shape_problem(hook, caller.spec.function, impl)
        if problem:
            problems.append(problem)
            bad.add(hook)

    info = None
    if "orch_broker_info" in impls and "orch_broker_info" not in bad:
        try:
            info = impls["orch_broker_info"][1].function()
        except Exception as exc:  # noqa: BLE001 - reported as a refusal
            problems.append(f"orch_broker_info() raised {_one_line(exc)}")
        else:
            problems += _check_info(entry, info, impls, BrokerInfo, BrokerSettings)

    if problems:
        raise PluginError(f"plugin '{entry.name}' refused: {'; '.join(problems)}")

    table = {hook: _adapt(caller.spec.argnames, impl.function, impl.argnames)
             for hook, (caller, impl) in impls.items() if hook not in BROADCAST_HOOKS}
    return LoadedBroker(name=entry.name, entry=entry, info=info, hooks=MappingProxyType(table))


def _shape_problem(hook: str, spec_function: Callable[..., Any], impl: Any) -> str | None:
    function = impl.function
    if impl.wrapper or impl.hookwrapper:
        return f"{hook} may not be a wrapper (it is called on this plugin only)"
    if hook in STREAM_HOOKS:
        if not inspect.isasyncgenfunction(function):
            return f"{hook} must be an async generator function (async def with yield)"
    elif inspect.iscoroutinefunction(spec_function):
        if not inspect.iscoroutinefunction(function):
            return f"{hook} must be a coroutine function (async def)"
    elif inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        return f"{hook} must be a plain function (def, not async def)"
    return None


def _check_info(entry: PluginEntry, info: Any, impls: Mapping[str, Any], broker_info: type,
                base_settings: type) -> list[str]:
    import attrs

    from orch import hookspecs

    if not isinstance(info, broker_info):
        return [f"orch_broker_info() returned {type(info).__name__}, expected orch.models.BrokerInfo"]
    problems = []
    if info.name != entry.name:
        problems.append(f"orch_broker_info().name is '{info.name}' but the entry point is named "
                        f"'{entry.name}' (they must be equal)")
    if info.official and entry.unofficial:
        problems.append(f"its distribution is marked '{UNOFFICIAL_KEYWORD}' but BrokerInfo.official is True")
    elif not info.official and not entry.unofficial:
        problems.append(f"BrokerInfo.official is False but its distribution metadata lacks the keyword "
                        f"'{UNOFFICIAL_KEYWORD}' (the core must know before importing it)")
    settings_type = info.settings_type
    if not (isinstance(settings_type, type) and issubclass(settings_type, base_settings)
            and attrs.has(settings_type)):
        problems.append("BrokerInfo.settings_type must be an attrs class derived from "
                        "orch.settings.BrokerSettings")
    for hook, flag in hookspecs.CAPABILITY_HOOKS.items():
        declared = bool(getattr(info.capabilities, flag))
        if declared and hook not in impls:
            problems.append(f"declares capability {flag} but does not implement {hook}")
        elif hook in impls and not declared:
            problems.append(f"implements {hook} but does not declare capability {flag}")
    return problems


# ------------------------------------------------------------------------------------------- listing


def plugin_statuses(raw_brokers_config: Mapping[str, Any], *, check: bool = False) -> list[PluginStatus]:
    """What ``orch plugins`` shows. Metadata only unless ``check`` (or the plugin is already loaded in
    this process); an unofficial plugin that is not opted in is never imported, and one broken plugin does
    not stop the others from being listed. Config sections naming no installed plugin are listed too."""
    rows = []
    for entry in installed_plugins():
        section = raw_brokers_config.get(entry.name)
        common = dict(name=entry.name, official=not entry.unofficial, configured=section is not None,
                      enabled=_flag(section, "enabled"), version=entry.version, dist_name=entry.dist_name)
        reason = gate(entry.name, section)
        if reason:
            rows.append(PluginStatus(state="gated", problem=reason, **common))
            continue
        risk = f"unofficial: {UNOFFICIAL_RISK}" if entry.unofficial else None
        if not (check or entry.name in _loaded):
            rows.append(PluginStatus(state="unchecked", notice=risk, **common))
            continue
        try:
            loaded = load_plugin(entry.name)
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
            problem = str(exc) if isinstance(exc, PluginError) else _one_line(exc)
            rows.append(PluginStatus(state="refused", problem=problem, notice=risk, **common))
            continue
        info = loaded.info
        notice = " ".join(n for n in (info.risk_notice or risk, info.service_notice) if n) or None
        rows.append(PluginStatus(state="ok", title=info.title, notice=notice, **common))
    installed = set(installed_broker_names())
    for name in sorted(set(raw_brokers_config) - installed):
        rows.append(PluginStatus(
            name=name, state="not_installed", official=None, configured=True,
            enabled=_flag(raw_brokers_config[name], "enabled"),
            problem=f"the config has a brokers.{name} section but no plugin named '{name}' is installed"))
    return rows
