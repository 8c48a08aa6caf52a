"""Finding and starting the installed brokers' simulators (``orch sim start``, ``orch demo``, tests).

Only official plugins are considered unless a broker is named explicitly with its opt-in given: an
unofficial plugin is never imported without consent, not even to run its simulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from orch.errors import OrchError, PluginError, UsageError
from orch.plugins import installed_plugins, load_plugin


def simulator_spec(name: str) -> Any:
    """The SimulatorSpec of an installed broker plugin; PluginError if it has none."""
    loaded = load_plugin(name)
    hook = loaded.hooks.get("orch_simulator")
    if hook is None:
        raise PluginError(f"plugin '{name}' ships no simulator (it does not implement orch_simulator)")
    return hook()


def available_simulators(names: list[str] | None = None, *, include_unofficial: bool = False) -> dict[str, Any]:
    """name → SimulatorSpec for the named brokers (all installed official ones by default). A named broker
    that has no simulator is an error; an unnamed one is skipped."""
    entries = {entry.name: entry for entry in installed_plugins()}
    if names:
        unknown = [n for n in names if n not in entries]
        if unknown:
            installed = ", ".join(sorted(entries)) or "none"
            raise UsageError(f"no broker plugin named {', '.join(unknown)} is installed (installed: {installed})")
        return {name: simulator_spec(name) for name in names}
    specs = {}
    for name, entry in sorted(entries.items()):
        if entry.unofficial and not include_unofficial:
            continue
        try:
            specs[name] = simulator_spec(name)
        except OrchError:
            continue
    return specs


def session_time(now: datetime | None = None) -> datetime:
    """A recent moment when the US and European stock sessions and forex are all open (14:45 UTC on the
    latest weekday that is not in the future): simulators started for a demo use it so market orders fill
    whatever the real time of day, while timestamps still look like today's."""
    now = now or datetime.now(timezone.utc)
    candidate = now.replace(hour=14, minute=45, second=0, microsecond=0)
    if candidate > now:
        candidate -= timedelta(days=1)
    while candidate.weekday() >= 5:
        candidate -= timedelta(days=1)
    return candidate
