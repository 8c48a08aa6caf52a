"""The broker guide's command lines (its Testing and Troubleshooting sections), run as written against the
simulators of every installed broker plugin: once as `orch <line>` subprocesses and once through one
`orch shell` process reading them all from stdin.

A line for a guide broker whose plugin is not installed must fail with one line naming the missing plugin;
as soon as that plugin is installed, its lines are run for real and must succeed (the expectations are
decided per line from the installed plugins, nothing to edit here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from orch.plugins import GUIDE_BROKERS, installed_broker_names, is_unofficial

HERE = Path(__file__).resolve().parent
COPY = HERE / "fixtures" / "guide_commands.txt"
GUIDE = HERE.parents[1] / "shared" / "seed" / "broker-integration-guide.md"
ORDER_ID = "ORDER_ID"


def guide_lines(text: str) -> list[str]:
    """The `> command` lines inside the guide's code blocks, in order."""
    lines, fenced = [], False
    for raw in text.splitlines():
        if raw.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced and raw.startswith("> "):
            lines.append(raw[2:].strip())
    return lines


def copied_lines() -> list[str]:
    return [line.strip() for line in COPY.read_text().splitlines() if line.strip() and not line.startswith("#")]


LINES = copied_lines()
INSTALLED = set(installed_broker_names())


def broker_of(line: str) -> str | None:
    return next((word for word in line.split() if word in GUIDE_BROKERS), None)


def runnable(line: str) -> bool:
    broker = broker_of(line)
    return broker is None or broker in INSTALLED


def test_the_copy_matches_the_guide():
    if not GUIDE.exists():
        pytest.skip(f"the guide is not beside the repository ({GUIDE})")
    assert copied_lines() == guide_lines(GUIDE.read_text())


def test_the_walkthrough_covers_both_sections():
    # The three brokers of "Testing … Integration" and each Troubleshooting line are there.
    assert {broker_of(line) for line in LINES} >= {"alpaca", "binance", "ibkr", None}
    assert {"status brokers", "validate config", f"order status --id {ORDER_ID}", "alpaca limits"} <= set(LINES)


# ------------------------------------------------------------------------------------------ simulators


def _orch_command() -> list[str]:
    beside = Path(sys.executable).with_name("orch")
    found = str(beside) if beside.exists() else shutil.which("orch")
    return [found] if found else [sys.executable, "-m", "orch.cli.main"]


def _first_line(process: subprocess.Popen, timeout: float = 60.0) -> str:
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive() or not got or not got[0]:
        process.kill()
        raise RuntimeError(f"simulators did not start: {process.stderr.read() if process.stderr else ''}")
    return got[0]


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory):
    """Every installed plugin's simulator in one `orch sim start` subprocess, and a config enabling all of
    them (the unofficial ones with their opt-in given)."""
    home = tmp_path_factory.mktemp("guide_home")
    config_file = home / "config.json"
    env = {**os.environ, "ORCH_HOME": str(home)}
    env.pop("ORCH_CONFIG", None)
    names = sorted(INSTALLED)
    process = subprocess.Popen([*_orch_command(), "--json", "sim", "start", *names, "--port", "0",
                                "--session-open", "--write-config", str(config_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=home)
    try:
        started = json.loads(_first_line(process))
        assert set(started["simulators"]) == set(names)
        document = json.loads(config_file.read_text())
        for name in names:
            if is_unofficial(name):
                document["brokers"][name]["acknowledge_unofficial"] = True
        config_file.write_text(json.dumps(document, indent=2))
        yield {"home": home, "config": config_file, "env": env, "document": document}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def orch(sims: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*_orch_command(), "--config", str(sims["config"]), *args], capture_output=True,
                          text=True, env=sims["env"], cwd=sims["home"], timeout=120, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def secrets(sims: dict) -> list[str]:
    words = ("key", "secret", "password", "pin", "token")
    return [str(value) for section in sims["document"]["brokers"].values() for field, value in section.items()
            if any(w in field for w in words) and isinstance(value, str) and len(value) >= 4]


@pytest.fixture(scope="module")
def order_id(sims) -> str:
    """A real client order id for `order status --id ORDER_ID`: the guide's first order line whose broker
    is installed, placed with --json."""
    line = next((line for line in LINES if " order buy " in f" {line} " and runnable(line)), None)
    if line is None:
        pytest.skip("no installed broker has an order line in the guide")
    placed = orch(sims, "--json", *line.split())
    assert placed.returncode == 0, placed.stderr
    return json.loads(placed.stdout)["client_order_id"]


def concrete(line: str, order_id: str) -> str:
    return line.replace(ORDER_ID, order_id)


def assert_missing_plugin_error(result_stderr: str, broker: str) -> None:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result_stderr
    assert broker in lines[0] and "not installed" in lines[0] and f"orch[{GUIDE_BROKERS[broker]}]" in lines[0]


@pytest.mark.parametrize("line", LINES)
def test_cli_form(sims, order_id, line):
    result = orch(sims, *concrete(line, order_id).split())
    assert "Traceback" not in result.stderr
    broker = broker_of(line)
    if runnable(line):
        assert result.returncode == 0, f"orch {line}: {result.stderr}"
        assert "error:" not in result.stderr
        assert result.stdout.strip()
    else:
        assert result.returncode != 0
        assert result.stdout == ""
        assert_missing_plugin_error(result.stderr, broker)
    for secret in secrets(sims):
        assert secret not in result.stdout + result.stderr


def test_cli_form_of_order_status_finds_the_placed_order(sims, order_id):
    result = orch(sims, "--json", *concrete(f"order status --id {ORDER_ID}", order_id).split())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["order"]["client_order_id"] == order_id


def test_shell_form(sims, order_id):
    """All the lines, verbatim with their `> ` prompt, through one `orch shell` process."""
    script = "".join(f"> {concrete(line, order_id)}\n" for line in LINES)
    result = orch(sims, "shell", stdin=script)
    assert "Traceback" not in result.stderr
    missing = [line for line in LINES if not runnable(line)]
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    # Exactly one error line per line of a missing plugin, in order, and none for anything else.
    assert len(errors) == len(missing), result.stderr
    for error, line in zip(errors, missing):
        assert_missing_plugin_error(error, broker_of(line))
    assert (result.returncode != 0) == bool(missing), result.stderr
    # Each broker line's output is there: the connection test, the order, and the looked-up order.
    for name in sorted({broker_of(line) for line in LINES if runnable(line)} - {None}):
        assert f"{name}: connected" in result.stdout or f"{name}: already connected" in result.stdout
    assert order_id in result.stdout
    assert "reconnected" in result.stdout  # `restart broker alpaca` on the shell's open connection
    for secret in secrets(sims):
        assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("absent", ["binance", "trade_republic"])
def test_a_missing_broker_plugin_is_one_line_naming_it(tmp_path, monkeypatch, absent):
    """Whatever is installed here: the plugin is hidden from discovery, as if never installed."""
    from click.testing import CliRunner

    import orch.plugins
    from orch.cli.errors import run_cli
    from orch.cli.main import cli

    entries = {name: entry for name, entry in orch.plugins._discover().items() if name != absent}
    monkeypatch.setattr(orch.plugins, "_discover", lambda: entries)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path))
    config = tmp_path / "config.json"
    config.write_text('{"brokers": {}}')

    def run(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
        runner = CliRunner()
        with runner.isolation(input=stdin) as (out, err, _):
            code = run_cli(cli, ["--config", str(config), *args])
        return code, out.getvalue().decode(), err.getvalue().decode()

    lines = [[absent, "account"], ["test", absent, "connection"], ["test", "broker", absent],
             [absent, "order", "buy", "X", "1", "market", "--paper"]]
    for args in lines:
        code, out, err = run(args)
        assert code != 0 and out == "" and "Traceback" not in err
        assert_missing_plugin_error(err, absent)
    code, out, err = run(["shell"], stdin="".join(f"> {' '.join(args)}\n" for args in lines))
    assert code != 0 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == len(lines)
    for error in errors:
        assert_missing_plugin_error(error, absent)


def test_the_guides_plural_accounts_is_the_account_command(sims):
    # The guide writes `ibkr accounts`; every broker group answers to it (a plugin may define its own).
    name = sorted(INSTALLED)[0]
    plural, singular = orch(sims, "--json", name, "accounts"), orch(sims, "--json", name, "account")
    assert plural.returncode == 0 == singular.returncode, plural.stderr
    assert json.loads(plural.stdout).keys() == json.loads(singular.stdout).keys()
