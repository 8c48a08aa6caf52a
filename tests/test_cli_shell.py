"""``orch shell``: the guide's lines fed on stdin run against ONE open orchestrator (one connection per
broker for the whole session); errors are one line and the session goes on."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

kit = SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("_cli_kit.py"))))


@pytest.fixture
def env(tmp_path, monkeypatch):
    yield kit.make_env(tmp_path, monkeypatch)
    from orch.logs import reset_logging

    reset_logging()


GUIDE_SESSION = """\
# Test connection
> test memb connection

# Get account info
> memb account
> memb positions

# Test order placement
> memb order buy AAPL 1 market --paper --client-order-id guide-1
> memb positions
> status brokers
> order status --id guide-1
> memb order history --rejected
> test broker memb
> restart broker memb
> memb account
exit
"""


def test_guide_lines_share_one_connection(env):
    result = env.run("shell", input=GUIDE_SESSION)
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    memb = env.books["memb"]
    # One connection for ten commands; `restart broker` is the only other connect, by design.
    assert memb.connects == 2 and memb.closes == 2
    assert env.books["crypt"].connects == 1  # status brokers connects every enabled broker
    out = result.stdout
    assert "memb: connected in" in out and "account MEMB-1" in out
    assert "filled" in out and "guide-1" in out
    assert "state: filled" in out and "events:" in out
    assert "No orders." in out  # no rejected orders
    assert "memb: ok" in out and "quote AAPL" in out
    assert "memb: reconnected in" in out
    assert env.rows()[0][:4] == ("guide-1", "memb", "paper", "filled")
    assert out.count("MEMB-1") >= 3


def test_errors_are_one_line_and_the_shell_goes_on(env):
    script = ("memb order buy AAPL abc --paper\n"
              "frobnicate\n"
              "memb order buy NOGO 1 --paper\n"
              "memb order buy AAPL 1 --live\n"
              "shell\n"
              "--config other.toml status brokers\n"
              "memb order buy 'AAPL 1\n"
              "memb account\n")
    result = env.run("shell", input=script)
    # A script exits with its last failing line's code (the unbalanced quote: a usage error).
    assert result.code == 2
    errors = result.error_lines
    assert len(errors) == 7, errors
    assert all(line.startswith("error: ") for line in errors)
    assert "QTY" in errors[0]
    assert "No such command 'frobnicate'" in errors[1]
    assert "symbol is not tradable" in errors[2]
    assert "--live given but this shell runs without --live" in errors[3]
    assert "already in the shell" in errors[4]
    assert "--config cannot change" in errors[5]
    assert "cannot read the line" in errors[6]
    assert "Traceback" not in result.stderr
    assert "MEMB-1" in result.stdout  # the last line still ran
    assert env.books["memb"].connects == 1
    assert [r[3] for r in env.rows()] == ["rejected"]


def test_live_shell_requires_live_on_each_command(tmp_path, monkeypatch):
    env = kit.make_env(tmp_path, monkeypatch, memb_paper=False)
    result = env.run("shell", "--live", input="memb order buy AAPL 1 market\n"
                                                "memb order buy AAPL 1 market --paper\n"
                                                "memb order buy AAPL 1 market --live\n")
    assert result.code == 2  # the refused lines are usage errors
    assert len(result.error_lines) == 2 and "add --live" in result.error_lines[0]
    assert "--paper given but this shell runs with --live" in result.error_lines[1]
    assert [r[2:4] for r in env.rows()] == [("live", "filled")]


def test_json_and_eof(env):
    result = env.run("--json", "shell", input="> memb order buy AAPL 2 --paper")
    assert result.code == 0, result.stderr
    assert kit.Run(0, result.stdout, "").json["order"]["qty"] == "2"


def test_halt_in_the_shell_stops_orders_until_resume(env):
    result = env.run("shell", input="halt stop everything\n"
                                    "memb order buy AAPL 1 --paper\n"
                                    "resume\n"
                                    "memb order buy AAPL 1 --paper\n")
    assert result.code == 1  # the order refused while halted
    [line] = result.error_lines
    assert "halted (stop everything)" in line
    assert len(env.books["memb"].placed) == 1


def test_parse_line_tolerates_the_guides_formatting():
    shell = pytest.importorskip("orch.cli.shell")
    assert shell.parse_line("> alpaca order buy AAPL 1 market --paper") == [
        "alpaca", "order", "buy", "AAPL", "1", "market", "--paper"]
    assert shell.parse_line("# Test connection") is None
    assert shell.parse_line("```bash") is None
    assert shell.parse_line("   ") is None
    assert shell.parse_line("orch status brokers  # all of them") == ["status", "brokers"]
    assert shell.parse_line("help order") == ["order", "--help"]


def test_completion_of_command_words(env):
    from orch.cli.app import AppContext
    from orch.cli.main import cli
    from orch.cli.shell import completions

    obj = AppContext(config_path=str(env.config))
    assert completions(cli, "me", obj) == ["memb"]
    assert completions(cli, "> st", obj) == ["status", "stream"]
    assert completions(cli, "ex", obj) == ["exit"]
    assert completions(cli, "memb order b", obj) == ["buy"]
    assert set(completions(cli, "test ", obj)) == {"broker", "crypt", "memb"}
    assert completions(cli, "test memb ", obj) == ["api-key", "api_key", "connection"]
    flags = completions(cli, "memb order buy AAPL 1 --p", obj)
    assert {"--paper", "--post-only", "--practice"} <= set(flags)
    assert completions(cli, "nothing here", obj) == []
    assert env.books["memb"].connects == 0
