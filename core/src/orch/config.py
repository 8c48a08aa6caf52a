"""Loading, validating and writing orch configuration files.

Formats: the broker guide's JSON exactly as written, or the same structure in TOML (``[brokers.alpaca]``
…). Numbers are read as :class:`~decimal.Decimal` (``parse_float=Decimal``) in both, never via float.

Where the file is found: see :func:`find_config_path`.

Validation: the top level and the ``broker_routing``/``broker_selection``/``risk``/``journal``/``logging``
blocks are structured into :mod:`orch.config_model`; each ``brokers.<name>`` section is structured into
that plugin's own ``Settings`` class (``BrokerInfo.settings_type``). Unknown keys are errors (with a
did-you-mean hint); every problem is reported, one line each, with its dotted path, in a single
:class:`~orch.errors.ConfigError` (``problems``). Sections of brokers whose plugin is not installed are kept
raw (``OrchConfig.uninstalled_brokers``) and reported as warnings. An unofficial plugin is not even
imported unless its section says ``enabled = true`` and ``acknowledge_unofficial = true``; until then its
section stays raw in ``OrchConfig.brokers`` with a warning explaining the risk.

Secrets:

* Any string value written exactly ``"${VAR}"`` is read from the environment variable ``VAR`` (a missing
  variable is a config error naming the path and the variable).
* Fields typed :class:`orch.secret.Secret` in a plugin's Settings become Secrets (``source`` is
  ``"config"`` or ``"env:VAR"``). For top-level Secret fields, the environment variable
  ``ORCH_<BROKER>_<FIELD>`` (upper case; e.g. ``ORCH_ALPACA_API_KEY``, ``ORCH_ALPACA_SECRET_KEY``,
  ``ORCH_TRADE_REPUBLIC_PIN``) overrides whatever the file says, then any name the plugin declares in
  ``BrokerInfo.secret_env``. A placeholder such as ``YOUR_API_KEY`` counts as not set:
  :func:`config_warnings` lists such fields and :func:`require_secrets` refuses them.
* Writing a config (:func:`dump_toml`, ``orch config show``) never emits a secret value: a set secret is
  written as ``"${VAR}"`` (its own variable, or ``ORCH_<BROKER>_<FIELD>``), an unset one is left out.
"""

from __future__ import annotations

import enum
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import attrs

from orch.config_convert import FromEnv, Problem, SecretRef, converter, did_you_mean, format_problem, join
from orch.config_model import (BrokerRouting, BrokerSelection, JournalSettings, LoggingSettings, OrchConfig,
                               RiskSettings)
from orch.errors import ConfigError, OrchError
from orch.secret import Secret, is_placeholder

APP_NAME = "orch"
CONFIG_FILENAMES = ("orch.toml", "config.json")

_SECTIONS: dict[str, type] = {
    "broker_routing": BrokerRouting,
    "broker_selection": BrokerSelection,
    "risk": RiskSettings,
    "journal": JournalSettings,
    "logging": LoggingSettings,
}
_TOP_LEVEL = ("brokers", *_SECTIONS)

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# Raw sections (not structured by a Settings class) are redacted by key name.
_SECRET_KEY = re.compile(r"key|secret|passw|pin|token|session|credential|private", re.IGNORECASE)
_SECRET_VAR = _SECRET_KEY


class PluginRegistry(Protocol):
    """What the loader needs from :mod:`orch.plugins` (tests pass a fake)."""

    def installed_broker_names(self) -> list[str]: ...

    def is_unofficial(self, name: str) -> bool: ...

    def load_plugin(self, name: str) -> Any: ...


def _plugin_registry() -> PluginRegistry:
    from orch import plugins

    return plugins  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ finding


def user_config_dir() -> Path:
    import platformdirs

    return platformdirs.user_config_path(APP_NAME, appauthor=False)


def search_paths() -> list[Path]:
    """The files looked for when no path is given, in order."""
    cwd = Path.cwd()
    home = user_config_dir()
    return [cwd / name for name in CONFIG_FILENAMES] + [home / name for name in CONFIG_FILENAMES]


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use, or None (then the defaults apply).

    Order: ``explicit`` (``--config`` or ``ORCH_CONFIG``; returned even if it does not exist, so loading
    reports it), then ``./orch.toml``, ``./config.json``, then the user config directory
    (platformdirs; ``~/.config/orch`` on Linux): ``orch.toml``, then ``config.json``. The first that
    exists wins.
    """
    if explicit:
        return Path(explicit)
    for candidate in search_paths():
        if candidate.is_file():
            return candidate
    return None


# ------------------------------------------------------------------------------------------ parsing


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # json keeps the last silently; in a trading config that hides mistakes.
            raise _DuplicateKey(f'duplicate key "{key}"')
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number orch accepts")


def _parse(text: str, where: str, fmt: str) -> Any:
    if fmt == "json":
        try:
            return json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicates,
                              parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            line = f"{where}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
        except ValueError as exc:
            line = f"{where}: invalid JSON: {exc}"
        except RecursionError:
            line = f"{where}: invalid JSON: nested too deeply"
    else:
        import tomllib

        try:
            return tomllib.loads(text, parse_float=Decimal)
        except RecursionError:
            line = f"{where}: invalid TOML: nested too deeply"
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
            if found:
                message = message[:found.start()]
                line = f"{where}:{found.group(1)}:{found.group(2)}: invalid TOML: {message}"
            else:
                line = f"{where}: invalid TOML: {message}"
        except ValueError as exc:  # not a TOMLDecodeError: an integer of more digits than Python converts
            line = f"{where}: invalid TOML: {' '.join(str(exc).split())}"
    raise ConfigError(line, problems=[line])


def _format_of(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".toml":
        return "toml"
    return "json" if text.lstrip().startswith("{") else "toml"


def read_config_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw content of a config file (JSON or TOML), numbers as Decimal. Syntax errors are one
    ConfigError line with file, line and column."""
    path = Path(path)
    where = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {where}",
                          problems=[f"config file not found: {where}"]) from None
    except OSError as exc:
        line = f"{where}: cannot read: {exc.strerror or exc}"
        raise ConfigError(line, problems=[line]) from None
    except ValueError as exc:  # a path with a NUL byte cannot even be asked for
        line = f"{where!r}: cannot read: {exc}"
        raise ConfigError(line, problems=[line]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = f"{where}: not UTF-8 text (byte {exc.start})"
        raise ConfigError(line, problems=[line]) from None
    data = _parse(text, where, _format_of(path, text))
    if not isinstance(data, dict):
        line = f"{where}: the top level must be a table/object"
        raise ConfigError(line, problems=[line])
    return data


# ------------------------------------------------------------------------------------------ environment


def _substitute(value: Any, path: str, env: Mapping[str, str], problems: list[Problem],
                missing: list[str]) -> Any:
    """Replace every ``"${VAR}"`` string with the variable's value (a :class:`FromEnv`)."""
    if isinstance(value, dict):
        return {k: _substitute(v, join(path, k), env, problems, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, join(path, i), env, problems, missing) for i, v in enumerate(value)]
    if isinstance(value, str) and not isinstance(value, FromEnv):
        ref = _ENV_REF.match(value)
        if ref:
            var = ref.group(1)
            if var not in env:
                problems.append((path, f"environment variable {var} is not set"))
                missing.append(path)
                return value
            if _SECRET_VAR.search(var):
                Secret(env[var])  # registers it with the log masker even if the field is a plain str
            return FromEnv(env[var], var)
    return value


def env_var_name(broker: str, *parts: str) -> str:
    """``ORCH_<BROKER>_<FIELD>``: the variable that overrides a broker's secret field."""
    raw = "_".join(("ORCH", broker, *parts)).upper()
    return re.sub(r"[^A-Z0-9_]", "_", raw)


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to what attrs recorded
        return {a.name: a.type for a in attrs.fields(cls)}


def _unwrap_optional(t: Any) -> tuple[Any, bool]:
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return t, False


def _is_secret_type(t: Any) -> bool:
    return _unwrap_optional(t)[0] is Secret


def secret_fields(settings_type: type) -> list[str]:
    """Top-level fields of a Settings class typed Secret (or ``Secret | None``)."""
    hints = _type_hints(settings_type)
    return [a.name for a in attrs.fields(settings_type) if _is_secret_type(hints.get(a.name, a.type))]


def _apply_env_overrides(section: dict[str, Any], settings_type: type, broker: str,
                         env: Mapping[str, str], secret_env: Mapping[str, str]) -> dict[str, Any]:
    """``ORCH_<BROKER>_<FIELD>`` (then the plugin's ``secret_env`` name) replaces a top-level Secret
    field's value; a required Secret the file leaves out becomes an unset Secret, so the user hears
    "not set; set ORCH_…" rather than "required key missing"."""
    hints = _type_hints(settings_type)
    out = dict(section)
    for a in attrs.fields(settings_type):
        inner, optional = _unwrap_optional(hints.get(a.name, a.type))
        if inner is not Secret:
            continue
        key = a.alias or a.name
        for var in dict.fromkeys((env_var_name(broker, a.name), secret_env.get(a.name))):
            if var and env.get(var):
                out[key] = FromEnv(env[var], var)
                break
        else:
            if key not in out and not optional:
                out[key] = Secret(None, source="missing")
    return out


def _prepare_secrets(value: Any, cls: type) -> Any:
    """Turn the strings of Secret-typed fields into Secrets (keeping where they came from) before
    structuring: a plugin's attrs converter on the field then sees a Secret, not a bare string."""
    if not isinstance(value, dict) or not attrs.has(cls):
        return value
    hints = _type_hints(cls)
    out = dict(value)
    for a in attrs.fields(cls):
        key = a.alias or a.name
        if key not in out:
            continue
        inner, _ = _unwrap_optional(hints.get(a.name, a.type))
        current = out[key]
        if inner is Secret:
            if isinstance(current, FromEnv):
                out[key] = Secret(str(current), source=f"env:{current.var}")
            elif isinstance(current, str):
                out[key] = Secret(current, source="config")
        else:
            out[key] = _prepare_nested(current, inner)
    return out


def _prepare_nested(value: Any, t: Any) -> Any:
    if attrs.has(t):
        return _prepare_secrets(value, t)
    if typing.get_origin(t) in (dict, Mapping) and isinstance(value, dict):
        args = typing.get_args(t)
        item = _unwrap_optional(args[1])[0] if len(args) == 2 else None
        if item is not None and attrs.has(item):
            return {k: _prepare_secrets(v, item) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------------------ loading


def _structure(data: Any, cls: type, path: str, problems: list[Problem]) -> Any:
    from orch.config_convert import problems_from

    try:
        return converter.structure(data, cls)
    except OrchError as exc:  # a plugin's validator may raise ConfigError; its message has its path
        problems.append(("", str(exc)) if getattr(exc, "path", None) else (path, str(exc)))
    except Exception as exc:  # noqa: BLE001 - every structuring failure becomes problem lines
        problems.extend(problems_from(exc, path))
    return None


def _unofficial_reason(registry: Any, name: str, section: Mapping[str, Any]) -> str | None:
    gate = getattr(registry, "gate", None)
    if gate is not None:
        return gate(name, section)
    if not registry.is_unofficial(name):
        return None
    if section.get("enabled") is True and section.get("acknowledge_unofficial") is True:
        return None
    return (f"broker '{name}' is an unofficial plugin and stays unloaded: it uses a private web API the "
            f"broker does not offer for automated use, which may breach its terms of service and get the "
            f"account locked. To use it anyway, set enabled = true and acknowledge_unofficial = true in "
            f"the brokers.{name} section")


def _register_raw_secrets(value: Any, key: str = "") -> None:
    # A raw section's credentials must still be masked in logs, although no Settings class typed them.
    if isinstance(value, dict):
        for k, v in value.items():
            _register_raw_secrets(v, str(k))
    elif isinstance(value, list):
        for v in value:
            _register_raw_secrets(v, key)
    elif isinstance(value, str) and _SECRET_KEY.search(key) and not _ENV_REF.match(value):
        Secret(value)


def load_config(path: str | os.PathLike[str] | None = None, *, resolve_plugins: bool = True,
                registry: PluginRegistry | None = None,
                env: Mapping[str, str] | None = None) -> OrchConfig:
    """Load and validate the config at ``path`` (or the one :func:`find_config_path` finds; none found
    means the defaults). ``resolve_plugins=False`` imports no plugin: broker sections stay raw dicts.
    Raises :class:`ConfigError` whose ``problems`` holds every problem, one line each."""
    found = find_config_path(path)
    if found is None:
        return OrchConfig()
    data = read_config_data(found)
    return config_from_data(data, source=str(found), resolve_plugins=resolve_plugins, registry=registry,
                            env=env)


def config_from_data(data: Mapping[str, Any], *, source: str | None = None, resolve_plugins: bool = True,
                     registry: PluginRegistry | None = None,
                     env: Mapping[str, str] | None = None) -> OrchConfig:
    """Validate already-parsed config data (see :func:`load_config`)."""
    env = os.environ if env is None else env
    problems: list[Problem] = []
    warnings: list[str] = []
    missing_vars: list[str] = []

    for key in data:
        if key not in _TOP_LEVEL:
            problems.append((join("", key), f"unknown key{did_you_mean(str(key), _TOP_LEVEL)}"))

    sections: dict[str, Any] = {}
    for key, cls in _SECTIONS.items():
        if key in data:
            value = _substitute(data[key], key, env, problems, missing_vars)
            sections[key] = _structure(value, cls, key, problems)

    brokers: dict[str, Any] = {}
    uninstalled: dict[str, dict] = {}
    raw_brokers = data.get("brokers", {})
    if not isinstance(raw_brokers, dict):
        problems.append(("brokers", "expected a table with one section per broker"))
        raw_brokers = {}
    if raw_brokers:
        registry = registry or _plugin_registry()
        installed = list(registry.installed_broker_names())
        for name, section in raw_brokers.items():
            path = join("brokers", name)
            if not isinstance(name, str):  # only data built in code; a file's keys are text
                problems.append((path, "a broker name must be text"))
                continue
            if not isinstance(section, dict):
                problems.append((path, "expected a table (the broker's settings)"))
                continue
            if name not in installed:
                uninstalled[name] = section
                _register_raw_secrets(section)
                have = ", ".join(installed) or "none"
                warnings.append(f"{path}: no plugin named '{name}' is installed, so this section is not "
                                f"used{did_you_mean(name, installed)} (installed: {have}; "
                                f"pip install 'orch[{name.replace('_', '-')}]')")
                continue
            if not resolve_plugins:
                brokers[name] = section
                _register_raw_secrets(section)
                continue
            reason = _unofficial_reason(registry, name, section)
            if reason:
                brokers[name] = section
                _register_raw_secrets(section)
                warnings.append(f"{path}: {reason}")
                continue
            try:
                loaded = registry.load_plugin(name)
            except OrchError as exc:
                brokers[name] = section
                _register_raw_secrets(section)
                warnings.append(f"{path}: plugin not loaded, section not validated: {exc}")
                continue
            info = loaded.info
            settings_type = info.settings_type
            secret_env = dict(getattr(info, "secret_env", None) or {})
            prepared = _apply_env_overrides(section, settings_type, name, env, secret_env)
            prepared = _substitute(prepared, path, env, problems, missing_vars)
            prepared = _prepare_secrets(prepared, settings_type)
            settings = _structure(prepared, settings_type, path, problems)
            if settings is not None:
                brokers[name] = settings

    # A missing variable already explains the bad value at its path: don't report it twice.
    problems = [p for p in problems
                if p[1].startswith("environment variable") or not any(
                    p[0] == m or p[0].startswith(m + ".") or p[0].startswith(m + "[") for m in missing_vars)]
    if problems:
        raise _config_error(problems, source)

    cfg = OrchConfig(brokers=brokers, uninstalled_brokers=uninstalled, source=source,
                     **{k: v for k, v in sections.items() if v is not None})
    warnings += _routing_warnings(cfg)
    warnings += _secret_warnings(cfg)
    return attrs.evolve(cfg, warnings=tuple(dict.fromkeys(warnings)))


def _config_error(problems: list[Problem], source: str | None) -> ConfigError:
    lines = list(dict.fromkeys(format_problem(p) for p in problems))
    where = f" in {source}" if source else ""
    extra = len(lines) - 1
    hint = f"and {extra} more problem{'s' if extra > 1 else ''}{where}" if extra else (
        f"in {source}" if source else None)
    error = ConfigError(lines[0], hint=hint, problems=lines)
    error.path = problems[0][0] or None
    return error


def _routing_warnings(cfg: OrchConfig) -> list[str]:
    known = [*cfg.brokers, *cfg.uninstalled_brokers]
    out = []
    if not known:
        return out
    for a in attrs.fields(BrokerRouting):
        name = getattr(cfg.broker_routing, a.name)
        if name is not None and name not in known:
            out.append(f'broker_routing.{a.name}: "{name}" has no brokers.{name} section'
                       f"{did_you_mean(name, known)}")
    return out


# ------------------------------------------------------------------------------------------ secrets


def _secret_problems(name: str, settings: Any) -> list[str]:
    out = []
    if not attrs.has(type(settings)):
        return out
    fields = attrs.fields_dict(type(settings))
    for field_name in secret_fields(type(settings)):
        secret = getattr(settings, field_name)
        if not isinstance(secret, Secret) or secret.is_set:
            continue
        # A plugin marks a credential it never sends (the guide's Trade Republic password) as optional.
        if fields[field_name].metadata.get("optional_secret"):
            continue
        why = {"missing": "missing", "config": "placeholder"}.get(
            secret.source, f"{secret.source.removeprefix('env:')} is empty")
        out.append(f"brokers.{name}.{field_name}: not set ({why}); set {env_var_name(name, field_name)}")
    return out


def _secret_warnings(cfg: OrchConfig) -> list[str]:
    out = []
    for name, settings in cfg.brokers.items():
        # A disabled broker will not be used, so its empty credentials are not worth a warning.
        if getattr(settings, "enabled", True) is False:
            continue
        out += _secret_problems(name, settings)
    return out


def config_warnings(cfg: OrchConfig) -> list[str]:
    """Everything worth telling the user that does not stop loading: sections of uninstalled brokers,
    unofficial brokers not opted in, plugins that failed to load, routing to unknown brokers, and
    secrets not set (``brokers.alpaca.api_key: not set (placeholder); set ORCH_ALPACA_API_KEY``)."""
    return list(dict.fromkeys([*cfg.warnings, *_routing_warnings(cfg), *_secret_warnings(cfg)]))


def broker_settings(cfg: OrchConfig, broker: str) -> Any:
    """The structured Settings of ``broker``; ConfigError saying why when there are none (no section, not
    installed, unofficial and not opted in, or loaded with ``resolve_plugins=False``)."""
    path = f"brokers.{broker}"
    if broker in cfg.uninstalled_brokers:
        message = f"{path}: no plugin named '{broker}' is installed"
        raise ConfigError(message, problems=[message])
    if broker not in cfg.brokers:
        where = f" in {cfg.source}" if cfg.source else " (no config file found; run `orch config init`)"
        message = f"{path}: no such section{where}"
        raise ConfigError(message, problems=[message])
    settings = cfg.brokers[broker]
    if isinstance(settings, Mapping):
        reason = next((w.partition(": ")[2] for w in cfg.warnings if w.startswith(path + ":")),
                      "the section was not validated (plugins not resolved)")
        message = f"{path}: {reason}"
        raise ConfigError(message, problems=[message])
    return settings


def require_secrets(cfg: OrchConfig, broker: str) -> Any:
    """For commands that talk to ``broker``: its Settings, or ConfigError listing every secret that is not
    set, one line each (``brokers.alpaca.api_key: not set (placeholder); set ORCH_ALPACA_API_KEY``)."""
    settings = broker_settings(cfg, broker)
    lines = _secret_problems(broker, settings)
    if lines:
        raise _config_error([(line.partition(": ")[0], line.partition(": ")[2]) for line in lines],
                            cfg.source)
    return settings


# ------------------------------------------------------------------------------------------ writing


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        # An enum key (broker_selection.by_market's Market) is written as its value: tomli_w would write
        # str(key), "Market.US_STOCKS", which does not load back.
        return {(k.value if isinstance(k, enum.Enum) else k): _drop_none(v) for k, v in value.items()
                if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def _replace_secret_refs(value: Any, broker: str, parts: tuple[str, ...]) -> Any:
    if isinstance(value, SecretRef):
        secret = value.secret
        if not secret.is_set:
            return None
        if secret.source.startswith("env:"):
            return "${" + secret.source.removeprefix("env:") + "}"
        return "${" + env_var_name(broker, *parts) + "}"
    if isinstance(value, dict):
        return {k: _replace_secret_refs(v, broker, (*parts, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secret_refs(v, broker, parts) for v in value]
    return value


def _redact_raw(value: Any, broker: str, parts: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        return {k: _redact_raw(v, broker, (*parts, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_raw(v, broker, parts) for v in value]
    if (isinstance(value, str) and parts and _SECRET_KEY.search(parts[-1]) and not _ENV_REF.match(value)
            and not is_placeholder(value)):
        return "${" + env_var_name(broker, *parts) + "}"
    return value


def config_data(cfg: OrchConfig) -> dict[str, Any]:
    """The config as plain data in file layout (what :func:`dump_toml` writes), secrets as ``${VAR}``;
    Decimals stay Decimal (``json.dumps(..., default=str)`` for JSON)."""
    brokers: dict[str, Any] = {}
    for name, settings in cfg.brokers.items():
        if attrs.has(type(settings)):
            brokers[name] = _replace_secret_refs(converter.unstructure(settings), name, ())
        else:
            brokers[name] = _redact_raw(settings, name)
    for name, section in cfg.uninstalled_brokers.items():
        brokers[name] = _redact_raw(section, name)
    data: dict[str, Any] = {"brokers": brokers} if brokers else {}
    for key in _SECTIONS:
        data[key] = converter.unstructure(getattr(cfg, key))
    return _drop_none(data)


def dump_toml(cfg: OrchConfig) -> str:
    """The config as TOML that :func:`load_config` reads back; secret values are never written."""
    import tomli_w

    return tomli_w.dumps(config_data(cfg))


def dump_json(cfg: OrchConfig) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

    return json.dumps(config_data(cfg), indent=2, default=default)


# ------------------------------------------------------------------------------------------ starter

# Each guide broker's starter section: non-live mode on, credentials left to the environment.
_STARTER: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "alpaca": ("Alpaca: US stocks and crypto, commission-free. paper = true uses the paper account.",
               {"enabled": True, "paper": True, "markets": ["US_STOCKS", "CRYPTO"]},
               ("api_key", "secret_key")),
    "binance": ("Binance: crypto spot. testnet = true uses testnet.binance.vision (no real funds).",
                {"enabled": False, "testnet": True, "markets": ["CRYPTO"]}, ("api_key", "secret_key")),
    "ibkr": ("Interactive Brokers through TWS/IB Gateway on this machine. Port 7497 is TWS paper.",
             {"enabled": False, "host": "127.0.0.1", "port": 7497, "client_id": 1, "paper": True,
              "markets": ["GLOBAL_STOCKS", "OPTIONS", "FUTURES"]}, ()),
    "trading212": ("Trading 212: EU stocks. practice = true uses the practice (demo) account.",
                   {"enabled": False, "practice": True, "markets": ["EU_STOCKS"]}, ("api_key", "secret_key")),
    "xtb": ("XTB: forex and CFDs (high risk: leveraged). demo = true uses the demo server.",
            {"enabled": False, "demo": True, "markets": ["FOREX", "CFD"]}, ("api_key", "secret_key")),
    "degiro": ("DEGIRO (UNOFFICIAL: private web API; may breach DEGIRO's terms and get the account "
               "locked). It loads only with enabled = true AND acknowledge_unofficial = true.",
               {"enabled": False, "acknowledge_unofficial": False, "markets": ["EU_STOCKS"]},
               ("password",)),
    "trade_republic": ("Trade Republic (UNOFFICIAL: private app API; may breach its terms and get the "
                       "account locked). It loads only with enabled = true AND acknowledge_unofficial = "
                       "true.", {"enabled": False, "acknowledge_unofficial": False,
                                 "markets": ["EU_STOCKS"]}, ("password", "pin")),
}

_HEADER = """\
# orch configuration (TOML). Written by `orch config init`; check it with `orch validate config`.
#
# orch looks for its config in this order: --config PATH (or $ORCH_CONFIG), ./orch.toml, ./config.json,
# then the user config directory ({user_dir}). `orch config path` shows which one is used.
# The broker guide's JSON layout works too (config.json); this is the same structure in TOML.
#
# SECRETS DO NOT BELONG IN THIS FILE. Set them in the environment instead:
#   ORCH_<BROKER>_<FIELD>, e.g. ORCH_ALPACA_API_KEY and ORCH_ALPACA_SECRET_KEY,
# or point a value at any variable:  api_key = "${{MY_ALPACA_KEY}}".
# `orch config show` prints the effective config with secrets replaced by such references.
#
# Every broker starts in its paper/testnet/practice/demo mode. Trading live needs both the flag in
# this file (paper = false, ...) AND --live on the command line.
"""


def _comment(text: str) -> str:
    import textwrap

    return "\n".join("# " + line for line in textwrap.wrap(text, 100)) + "\n"


def _commented_out(toml_text: str) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in toml_text.rstrip("\n").split("\n"))


def starter_toml(brokers: Iterable[str] | None = None, *, registry: PluginRegistry | None = None) -> str:
    """A commented starter config that :func:`load_config` accepts. Sections are active for installed
    plugins among ``brokers`` (default: the guide's brokers plus any installed one) and commented out for
    the others; unofficial brokers are always written disabled."""
    import tomli_w

    try:
        installed = list((registry or _plugin_registry()).installed_broker_names())
    except ImportError:
        installed = []
    names = list(brokers) if brokers is not None else list(dict.fromkeys([*_STARTER, *installed]))
    parts = [_HEADER.format(user_dir=user_config_dir())]
    active = []
    for name in names:
        known = name in _STARTER
        title, values, secrets = _STARTER.get(
            name, (f"{name} (third-party plugin): see its documentation for the keys it takes.",
                   {"enabled": True}, ()))
        block = tomli_w.dumps({"brokers": {name: values}})
        parts.append("\n" + _comment(title))
        if secrets:
            variables = ", ".join(env_var_name(name, s) for s in secrets)
            parts.append(_comment(f"Credentials: set {variables} in the environment."))
        unofficial = values.get("acknowledge_unofficial") is not None
        if not known:
            # Its keys are unknown here, and loading it to find out is the user's call: a comment only.
            parts.append(_comment("Uncomment to configure it (orch plugins --check tells whether it loads)."))
            parts.append(_commented_out(block))
        elif name in installed and not unofficial:
            active.append(name)
            parts.append(block)
        elif unofficial:
            # Written out only as a comment: an unofficial broker must be a deliberate, informed choice.
            parts.append(_comment("To use it, uncomment and set both flags to true."))
            parts.append(_commented_out(block))
        else:
            parts.append(_comment(f"Plugin not installed: pip install 'orch[{name.replace('_', '-')}]', "
                                  "then uncomment."))
            parts.append(_commented_out(block))

    routing: dict[str, Any] = {}
    if active:
        routing["default_broker"] = active[0]
        routing["fallback_broker"] = active[0]
    parts.append("\n" + _comment(
        "Routing: which broker an order goes to when the command does not name one. crypto_broker and "
        "forex_broker override default_broker for those markets; fallback_broker is used when the chosen "
        "broker is unavailable (circuit breaker open, cannot connect) and serves the market."))
    parts.append(tomli_w.dumps({"broker_routing": routing}) if routing else "[broker_routing]\n")
    parts.append(_commented_out('crypto_broker = "binance"\nforex_broker = "ibkr"'))

    parts.append("\n" + _comment(
        "Pre-trade risk limits, checked before anything is sent to any broker. Amounts are in the "
        "instrument's currency; remove a line to lift that limit."))
    parts.append(tomli_w.dumps({"risk": {
        "max_order_notional": Decimal("1000"), "max_open_orders": 20, "max_orders_per_minute": 30,
        "daily_loss_limit": Decimal("500"), "enforce_market_hours": True}}))

    parts.append("\n" + _comment("The order journal (SQLite). Default: $ORCH_HOME/journal.sqlite or the "
                                 "user state directory."))
    parts.append("[journal]\n" + _commented_out('path = "orch-journal.sqlite"'))

    parts.append("\n" + _comment('Log file, as in the broker guide (file = "" turns it off). Secrets are '
                                 "masked in every log line."))
    parts.append(tomli_w.dumps({"logging": {"level": "INFO", "file": "logs/trading_orchestrator.log"}}))
    return "".join(parts)


def write_starter(path: str | os.PathLike[str], *, force: bool = False,
                  registry: PluginRegistry | None = None) -> Path:
    """Write :func:`starter_toml` to ``path`` (owner-only permissions: it will hold settings worth
    keeping private). Refuses to overwrite an existing file unless ``force``."""
    from orch.errors import UsageError

    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; not overwriting it", hint="use --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = starter_toml(registry=registry)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return target
