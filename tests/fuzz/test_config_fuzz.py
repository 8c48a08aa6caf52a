"""Fuzzing the config loader: the broker guide's configs (core/tests/fixtures/guide) with random damage, as
data, as JSON and TOML files, garbled, with ``${VAR}`` references and ``ORCH_<BROKER>_<FIELD>`` secrets.
Loading gives a config or a ConfigError whose every problem is one line naming its path; never another
exception. A config that loads is written back as TOML and loads again to the same values.
"""

from __future__ import annotations

import json
import re
import string
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import tomli_w
from hypothesis import assume, given
from hypothesis import strategies as st

from orch import plugins
from orch.config import config_data, config_from_data, dump_toml, env_var_name, load_config, read_config_data
from orch.config_model import OrchConfig
from orch.errors import ConfigError
from orch.testing.fuzz import fuzz_settings, garbled, json_values, mutated

ROOT = Path(__file__).resolve().parents[2]
GUIDE = sorted((ROOT / "core" / "tests" / "fixtures" / "guide").glob("*.json"))
SEEDS = [json.loads(p.read_text(), parse_float=Decimal) for p in GUIDE]
# Every broker of the guide, opted in, so the unofficial plugins' Settings are fuzzed too.
OPTED_IN = {"brokers": {name: {**section, "enabled": True, "acknowledge_unofficial": True}
                        for seed in SEEDS for name, section in seed.get("brokers", {}).items()
                        if name in ("degiro", "trade_republic")}}
SEEDS.append(OPTED_IN)
BROKERS = sorted({name for seed in SEEDS for name in seed.get("brokers", {})})
TOP_LEVEL = ("brokers", "broker_routing", "broker_selection", "risk", "journal", "logging")


def _check_error(exc: ConfigError) -> None:
    """One line per problem, each naming where (a dotted path or the file) before a colon."""
    assert exc.problems, f"ConfigError without problems: {exc}"
    for line in [str(exc), *exc.problems]:
        assert line.strip() and "\n" not in line, f"not one line: {line!r}"
    for line in exc.problems:
        assert ": " in line, f"problem without a path: {line!r}"


def _load_data(data: Any, env: dict[str, str]) -> OrchConfig | None:
    try:
        return config_from_data(data, source="fuzz.json", registry=plugins, env=env)
    except ConfigError as exc:
        _check_error(exc)
        return None


def _round_trip(cfg: OrchConfig, env: dict[str, str], folder: Path) -> None:
    """What dump_toml writes loads back to the same values. Secrets are written as ``${VAR}`` and never
    as values, so every variable it refers to is given a value (config_data shows only that one is set)."""
    text = dump_toml(cfg)
    env = {**{var: "set-by-the-round-trip" for var in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)}, **env}
    path = folder / "written.toml"
    path.write_text(text, encoding="utf-8")
    again = load_config(path, registry=plugins, env=env)
    assert config_data(again) == config_data(cfg)


def _null_over_default(value: Any) -> bool:
    """Whether a field holds None where its default is not None: TOML has no null, so such a config
    cannot round-trip (reported, not fixed here: XTB's max_instruments = null means no limit)."""
    if attrs.has(type(value)):
        for a in attrs.fields(type(value)):
            current = getattr(value, a.name)
            # A factory default always builds something; only a plain None default admits null.
            default = "built" if isinstance(a.default, attrs.Factory) else a.default
            if current is None and default not in (None, attrs.NOTHING):
                return True
            if _null_over_default(current):
                return True
    elif isinstance(value, dict):
        return any(_null_over_default(v) for v in value.values())
    return False


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def test_every_guide_config_round_trips_through_toml(folder):
    for seed in SEEDS:
        cfg = _load_data(seed, {})
        assert cfg is not None, seed
        _round_trip(cfg, {}, folder)


@fuzz_settings(150)
@given(st.one_of(*(mutated(seed, max_mutations=4) for seed in SEEDS)))
def test_damaged_guide_configs_give_config_errors_with_paths(data):
    assume(isinstance(data, dict))
    _load_data(data, {})


@fuzz_settings(40)
@given(st.dictionaries(st.one_of(st.sampled_from(TOP_LEVEL), st.text(max_size=8)), json_values(), max_size=4))
def test_random_structures_give_config_errors(data):
    _load_data(data, {})


_VAR = st.text(alphabet=string.ascii_uppercase + "_", min_size=1, max_size=6).map(lambda s: "FUZZ_" + s)
_ENV_VALUE = st.one_of(st.text(max_size=12), st.sampled_from(
    ["", " ", "true", "no", "12", "-3", "1.5", "1e999999", "NaN", "US_STOCKS", "\u00e9\u4e2d"]))
# (A value itself spelled "${X}" is written back as a reference: the one thing that cannot round-trip.)
_ENV_VALUE = _ENV_VALUE.filter(lambda v: "${" not in v)


@st.composite
def _with_env(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    """A guide config with some values replaced by ``${VAR}`` and an environment that may or may not hold
    them, plus ``ORCH_<BROKER>_<FIELD>`` secrets."""
    data = draw(mutated(draw(st.sampled_from(SEEDS)), max_mutations=1))
    env: dict[str, str] = {}
    paths = _leaf_paths(data)
    for path in draw(st.lists(st.sampled_from(paths), max_size=4)) if paths else []:
        var = draw(_VAR)
        _set(data, path, "${" + var + "}")
        if draw(st.booleans()):
            env[var] = draw(_ENV_VALUE)
    for broker in draw(st.lists(st.sampled_from(BROKERS), max_size=2)):
        field = draw(st.sampled_from(["api_key", "secret_key", "password", "pin", "totp_secret", "username"]))
        env[env_var_name(broker, field)] = draw(_ENV_VALUE)
    return data, env


def _leaf_paths(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, (*path, i))]
    return [path] if path else []


def _set(root: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        root = root[part]
    root[path[-1]] = value


@fuzz_settings(120)
@given(_with_env())
def test_env_references_and_env_secrets(case):
    data, env = case
    assume(isinstance(data, dict))
    cfg = _load_data(data, env)
    if cfg is not None and not _null_over_default(cfg):
        with tempfile.TemporaryDirectory() as name:
            _round_trip(cfg, env, Path(name))


def _write(folder: Path, data: dict[str, Any], fmt: str) -> bytes | None:
    if fmt == "json":
        # surrogatepass: a lone surrogate becomes bytes that are not UTF-8, which the loader must report.
        return json.dumps(data, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        return tomli_w.dumps(data).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):  # None and mixed lists have no TOML form
        return None


@fuzz_settings(120)
@given(st.data(), st.sampled_from(["json", "toml"]), st.sampled_from([".json", ".toml", ".conf"]))
def test_garbled_config_files_give_one_line_errors(folder, data, fmt, suffix):
    """Truncated files, flipped bytes, invalid UTF-8, NaN/Infinity, huge numbers: a ConfigError naming the
    file (with line and column for syntax errors), never a traceback."""
    seed = data.draw(st.one_of(st.sampled_from(SEEDS), mutated(data.draw(st.sampled_from(SEEDS)))))
    raw = _write(folder, seed, fmt) if isinstance(seed, dict) else None
    assume(raw is not None)
    extra = [b'{"risk": {"max_order_notional": NaN}}', b'{"risk": {"max_order_notional": -Infinity}}',
             b"[risk]\nmax_order_notional = nan\n", b"[risk]\nmax_order_notional = 1e999999\n",
             b"[risk]\nmax_open_orders = " + b"9" * 5000 + b"\n", b'{"brokers": {"alpaca": {"paper": 1e999999}}}',
             b"\xef\xbb\xbf" + raw, b"[" * 10_000, b'{"a":' * 5_000]
    content = data.draw(st.one_of(garbled(raw), st.sampled_from(extra)))
    path = folder / f"config{suffix}"
    path.write_bytes(content)
    try:
        cfg = load_config(path, registry=plugins, env={})
    except ConfigError as exc:
        _check_error(exc)
        if exc.path is None:  # file-level problems (syntax, encoding) name the file
            assert str(path) in str(exc) or "fuzz" in str(exc), str(exc)
    else:
        assert isinstance(cfg, OrchConfig)


def test_read_config_data_of_a_directory_or_missing_file(folder):
    for target in (folder, folder / "absent.toml"):
        with pytest.raises(ConfigError) as caught:
            read_config_data(target)
        _check_error(caught.value)


def test_non_string_keys_give_config_errors():
    """Data built in code (not read from a file) may carry int keys."""
    for data in ({"brokers": {1: {}}}, {"risk": {2: 3}}, {3: "x"}, {"brokers": {"alpaca": {"markets": {1: 2}}}},
                 {"0\n": None}, {"risk": {"a\nb": 1}}):  # a key ending in a newline is quoted in its path
        _load_data(data, {})
