"""orch config init|path|show and orch validate config, through the real entry point's error handling."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orch import config as config_mod
from orch.cli.errors import run_cli
from orch.cli.main import cli

HERE = Path(__file__).parent
GUIDE_DIR = HERE / "fixtures" / "guide"
CANARY = "canary-Cl5Yp8Mn3Hd6"


def load_fakes():
    name = "orch_tests_config_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "config_fakes.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def registry(monkeypatch):
    reg = load_fakes().FakeRegistry()
    monkeypatch.setattr(config_mod, "_plugin_registry", lambda: reg)
    return reg


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    for var in list(os.environ):
        if var.startswith("ORCH_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    yield
    from orch.logs import reset_logging

    reset_logging()


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@pytest.fixture
def orch(capsys):
    def run(*args: str) -> Result:
        capsys.readouterr()
        code = run_cli(cli, list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def broken_alpaca(tmp_path: Path) -> Path:
    data = json.loads((GUIDE_DIR / "alpaca_advanced.json").read_text())
    data["brokers"]["alpaca"]["rate_limits"]["requests_per_minute"] = "fast"
    data["brokers"]["alpaca"]["papr"] = True
    data["brokers"]["alpaca"]["api_key"] = CANARY
    data["risk"] = {"max_open_orders": -1.5}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------------------------------------ validate


def test_validate_lists_every_problem_one_per_line(registry, orch, tmp_path):
    result = orch("validate", "config", str(broken_alpaca(tmp_path)))
    assert result.code == 2
    assert sorted(result.err_lines) == sorted([
        'error: brokers.alpaca.rate_limits.requests_per_minute: expected an integer, got "fast"',
        'error: brokers.alpaca.papr: unknown key (did you mean "paper"?)',
        "error: risk.max_open_orders: expected an integer, got -1.5",
    ])
    assert "Traceback" not in result.err and CANARY not in result.err + result.out


def test_config_errors_from_any_command_are_lines_with_exit_2(registry, orch, tmp_path):
    path = broken_alpaca(tmp_path)
    result = orch("--config", str(path), "config", "show")
    assert result.code == 2
    assert len(result.err_lines) == 3 and all(line.startswith("error: ") for line in result.err_lines)
    assert "Traceback" not in result.err and CANARY not in result.err + result.out


def test_validate_guide_config_warns_about_placeholders_and_strict_fails(registry, orch):
    path = str(GUIDE_DIR / "alpaca_basic.json")
    result = orch("validate", "config", path)
    assert result.code == 0
    assert result.err_lines == [
        "warning: brokers.alpaca.api_key: not set (placeholder); set ORCH_ALPACA_API_KEY",
        "warning: brokers.alpaca.secret_key: not set (placeholder); set ORCH_ALPACA_SECRET_KEY",
    ]
    assert result.out.strip() == f"{path}: ok (2 warnings)"

    strict = orch("validate", "config", path, "--strict")
    assert strict.code == 2
    assert strict.err_lines == [
        "error: brokers.alpaca.api_key: not set (placeholder); set ORCH_ALPACA_API_KEY",
        "error: brokers.alpaca.secret_key: not set (placeholder); set ORCH_ALPACA_SECRET_KEY",
    ]


def test_validate_strict_passes_once_secrets_are_in_the_environment(registry, orch, monkeypatch):
    monkeypatch.setenv("ORCH_ALPACA_API_KEY", CANARY)
    monkeypatch.setenv("ORCH_ALPACA_SECRET_KEY", CANARY + "s")
    result = orch("validate", "config", str(GUIDE_DIR / "alpaca_advanced.json"), "--strict")
    assert result.code == 0, result.err
    assert result.err == ""


def test_validate_strict_fails_on_uninstalled_and_gated_brokers(registry, orch, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"brokers": {"tradier": {"enabled": True}, "degiro": {"enabled": True}}}))
    assert orch("validate", "config", str(path)).code == 0
    result = orch("validate", "config", str(path), "--strict")
    assert result.code == 2
    assert len(result.err_lines) == 2
    assert any(line.startswith("error: brokers.tradier: no plugin named 'tradier'") for line in result.err_lines)
    assert any(line.startswith("error: brokers.degiro: ") and "unofficial" in line for line in result.err_lines)
    assert "degiro" not in registry.loaded


def test_validate_uses_the_search_order(registry, orch, tmp_path):
    result = orch("validate", "config")
    assert result.code == 0 and "no config file found" in result.err
    assert orch("validate", "config", "--strict").code == 2
    (tmp_path / "orch.toml").write_text("[risk]\nmax_open_orders = 5\n")
    result = orch("validate", "config", "--strict")
    assert result.code == 0 and result.out.strip() == f"{tmp_path / 'orch.toml'}: ok"


def test_syntax_error_is_one_line(registry, orch, tmp_path):
    path = tmp_path / "orch.toml"
    path.write_text("[brokers.alpaca]\nenabled = tru\n")
    result = orch("validate", "config", str(path))
    assert result.code == 2
    (line,) = result.err_lines
    assert line.startswith(f"error: {path}:2:") and "invalid TOML" in line


# ------------------------------------------------------------------------------------ init / path / show


def test_init_writes_a_starter_that_validates_and_never_overwrites(registry, orch, tmp_path, monkeypatch):
    result = orch("config", "init")
    assert result.code == 0
    target = tmp_path / "orch.toml"
    assert target.is_file() and "ORCH_ALPACA_API_KEY" in target.read_text()

    again = orch("config", "init")
    assert again.code == 2 and len(again.err_lines) == 1 and "already exists" in again.err
    target.write_text("# edited\n")
    assert orch("config", "init").code == 2 and target.read_text() == "# edited\n"
    assert orch("config", "init", "--force").code == 0 and "[brokers.alpaca]" in target.read_text()

    validated = orch("validate", "config")
    assert validated.code == 0
    assert "warning: brokers.alpaca.api_key: not set (missing); set ORCH_ALPACA_API_KEY" in validated.err_lines
    monkeypatch.setenv("ORCH_ALPACA_API_KEY", CANARY)
    monkeypatch.setenv("ORCH_ALPACA_SECRET_KEY", CANARY + "s")
    assert orch("validate", "config", "--strict").code == 0


def test_init_to_an_explicit_path_and_the_user_dir(registry, orch, tmp_path):
    assert orch("config", "init", str(tmp_path / "sub" / "my.toml")).code == 0
    assert (tmp_path / "sub" / "my.toml").is_file()
    assert orch("config", "init", "--user").code == 0
    assert (tmp_path / "xdg" / "orch" / "orch.toml").is_file()


def test_path_shows_the_search_order_and_the_file_used(registry, orch, tmp_path):
    result = orch("config", "path")
    assert result.code == 0
    assert str(tmp_path / "orch.toml") in result.out
    assert str(tmp_path / "xdg" / "orch" / "config.json") in result.out
    assert "Using: none" in result.out

    (tmp_path / "xdg" / "orch").mkdir(parents=True)
    (tmp_path / "xdg" / "orch" / "config.json").write_text("{}")
    data = json.loads(orch("config", "path", "--json").out)
    assert data["used"] == str(tmp_path / "xdg" / "orch" / "config.json")
    assert [row["path"] for row in data["search_order"][1:]] == [
        str(tmp_path / "orch.toml"), str(tmp_path / "config.json"),
        str(tmp_path / "xdg" / "orch" / "orch.toml"), str(tmp_path / "xdg" / "orch" / "config.json")]

    explicit = json.loads(orch("--config", "elsewhere.toml", "config", "path", "--json").out)
    assert explicit["used"] == "elsewhere.toml" and explicit["used_exists"] is False


def test_show_never_prints_a_secret(registry, orch, tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"brokers": {
        "alpaca": {"enabled": True, "api_key": CANARY + "a", "secret_key": "${MY_SECRET}"},
        "binance": {"enabled": True},
        "degiro": {"enabled": False, "username": "me", "password": CANARY + "d"},
        "tradier": {"token": CANARY + "t"}}}))
    monkeypatch.setenv("MY_SECRET", CANARY + "s")
    monkeypatch.setenv("ORCH_BINANCE_API_KEY", CANARY + "b")
    for args in (("config", "show"), ("config", "show", "--json"), ("--json", "config", "show")):
        result = orch(*args)
        assert result.code == 0, result.err
        assert "canary" not in result.out + result.err
    text = orch("config", "show").out
    assert 'api_key = "${ORCH_ALPACA_API_KEY}"' in text
    assert 'secret_key = "${MY_SECRET}"' in text
    assert 'api_key = "${ORCH_BINANCE_API_KEY}"' in text
    assert 'password = "${ORCH_DEGIRO_PASSWORD}"' in text
    data = json.loads(orch("config", "show", "--json").out)
    assert data["brokers"]["alpaca"]["api_key"] == "${ORCH_ALPACA_API_KEY}"
    assert data["brokers"]["tradier"]["token"] == "${ORCH_TRADIER_TOKEN}"


def test_show_without_a_file_prints_the_defaults(registry, orch):
    result = orch("config", "show")
    assert result.code == 0
    assert "file: none (defaults)" in result.out and 'file = "logs/trading_orchestrator.log"' in result.out


# ------------------------------------------------------------------------------------ the installed command


def orch_executable() -> Path:
    path = Path(sys.executable).with_name("orch")
    if not path.exists():
        pytest.skip("the orch console script is not installed in this environment")
    return path


def run_installed(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    full_env.update(env or {})
    return subprocess.run([str(orch_executable()), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=60)


def test_installed_orch_reports_config_errors_without_traceback(tmp_path):
    path = tmp_path / "orch.toml"
    path.write_text('rsk = 1\n[risk]\nmax_open_orders = "fast"\nenforce_market_hours = "yes"\n'
                    '[journal]\npath = "${ORCH_TEST_JOURNAL_UNSET}"\n')
    proc = run_installed("validate", "config", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert sorted(proc.stderr.splitlines()) == sorted([
        'error: rsk: unknown key (did you mean "risk"?)',
        'error: risk.max_open_orders: expected an integer, got "fast"',
        'error: risk.enforce_market_hours: expected true or false, got "yes"',
        "error: journal.path: environment variable ORCH_TEST_JOURNAL_UNSET is not set",
    ])
    assert "Traceback" not in proc.stderr


def test_installed_orch_validates_the_starter(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert run_installed("config", "init", cwd=tmp_path, env=env).returncode == 0
    proc = run_installed("validate", "config", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(f"{tmp_path / 'orch.toml'}: ok")
    assert "Traceback" not in proc.stderr


def test_debug_output_of_a_config_error_has_no_secret(registry, orch, tmp_path):
    result = orch("--debug", "validate", "config", str(broken_alpaca(tmp_path)))
    assert result.code == 2
    assert CANARY not in result.out + result.err
    assert 'error: brokers.alpaca.papr: unknown key (did you mean "paper"?)' in result.err_lines
