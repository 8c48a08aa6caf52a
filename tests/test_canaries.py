"""Secret canaries: the scanner finds them in every form they leak in, the guard that runs with the whole
suite fails a test that leaks one (so it can fail), and the real ``orch --debug`` CLI, driven through its
failing paths against the simulators and a broker that echoes credentials, shows none of them on stdout,
stderr (tracebacks included), its log file or its journal."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from orch.errors import BrokerError, OrchError
from orch.secret import Secret
from orch.testing import canary, canary_guard
from orch.testing.canary import CanarySet, find_canaries, register_canary, simulator_canaries

needs_guard = pytest.mark.skipif(not canary_guard.active(), reason="the canary guard is off in this run")


def _orch() -> list[str]:
    beside = Path(sys.executable).with_name("orch")
    found = str(beside) if beside.exists() else shutil.which("orch")
    return [found] if found else [sys.executable, "-m", "orch.cli.main"]


def _planted(kind: str) -> str:
    """A canary no masker knows yet (so only the guard stands between it and the output)."""
    value = f"cnry-plant-{kind}-{uuid.uuid4().hex[:16]}"
    register_canary(f"planted {kind}", value)
    return value


def _remove_contents(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


# ------------------------------------------------------------------------------------------ the scanner


def test_scanner_names_the_canary_by_label_in_every_form():
    assert find_canaries(f"key={canary.API_KEY_ID}&x=1") == ["canary.API_KEY_ID"]
    basic = base64.b64encode(f"{canary.API_KEY_ID}:{canary.API_SECRET}".encode()).decode()
    assert find_canaries(f"Authorization: Basic {basic}") == ["canary.API_KEY_ID (base64)",
                                                              "canary.API_SECRET (base64)"]
    url_safe = base64.urlsafe_b64encode(f"xx{canary.PASSWORD}".encode()).decode()
    assert find_canaries(url_safe) == ["canary.PASSWORD (base64)"]
    assert find_canaries(f"password={canary.PASSWORD.replace('!', '%21')}") == ["canary.PASSWORD (percent-encoded)"]
    assert find_canaries(canary.TOTP_SECRET.encode()) == ["canary.TOTP_SECRET"]
    assert find_canaries("nothing to see: qty 10 at 187.23, order 90357") == []


def test_numeric_canaries_match_whole_numbers_only_and_short_ones_are_refused():
    assert find_canaries(f"pin {canary.PIN}.") == ["canary.PIN"]
    assert find_canaries(f"order 1{canary.PIN} and {canary.NUMERIC_ID}0") == []
    with pytest.raises(ValueError, match="ordinary quantity"):
        CanarySet({"pin": "471112"})
    assert canary.hint(canary.API_SECRET) == f"cnr…({len(canary.API_SECRET)} chars)" and canary.API_SECRET not in canary.hint(canary.API_SECRET)


def test_every_simulator_credential_is_a_canary():
    found = simulator_canaries()
    assert {"alpaca simulator api_key", "alpaca simulator secret_key"} <= set(found)
    for broker in ("binance", "trading212", "xtb"):
        assert any(label.startswith(f"{broker} simulator ") for label in found), broker
    if canary_guard.active():
        assert all(value in canary.default_set() for value in found.values())


# ------------------------------------------------------------------------------------------ the guard


@needs_guard
def test_guard_catches_a_log_record_even_at_a_level_that_is_off():
    value = _planted("log")
    logger = logging.getLogger("orch.canary_test")
    assert not logger.isEnabledFor(logging.DEBUG)
    quiet = logging.NullHandler()                      # neither a handler an earlier test left nor logging's
    logger.addHandler(quiet)                           # last resort may print it: only the guard sees it
    logger.propagate = False
    with canary_guard.caught_leaks() as hits:
        logger.debug("connecting with key %s", value)
        try:
            raise RuntimeError(f"boom {value}")
        except RuntimeError:
            logger.warning("request failed", exc_info=True)
        logging.getLogger("websockets.client").debug("> TEXT %s", value)   # orch never shows this level
    logger.propagate = True
    logger.removeHandler(quiet)
    assert hits == ["planted log in log record orch.canary_test:DEBUG (level off)",
                    "planted log in log record orch.canary_test:WARNING"]


def test_the_taps_keep_the_caller_s_location_in_log_records(caplog):
    caplog.set_level(logging.DEBUG, logger="orch.canary_test")
    logger = logging.getLogger("orch.canary_test")
    logger.debug("one")
    logger.log(logging.INFO, "two")
    try:
        raise RuntimeError("three")
    except RuntimeError:
        logger.exception("three")
    assert [(r.getMessage(), r.filename, r.funcName) for r in caplog.records] == [
        (m, "test_canaries.py", "test_the_taps_keep_the_caller_s_location_in_log_records")
        for m in ("one", "two", "three")]


@needs_guard
def test_guard_catches_error_text_and_the_masker_keeps_registered_secrets_out_of_it():
    value = _planted("error")
    with canary_guard.caught_leaks() as hits:
        OrchError(f"refused {value}")
    assert hits == ["planted error in error text OrchError"]
    Secret(value, source="test")                       # now orch knows it as a secret
    with canary_guard.caught_leaks() as hits:
        err = BrokerError(f"refused {value}", broker="x", broker_message=f"echo {value}")
    assert hits == [] and value not in str(err) and value not in err.broker_message


@needs_guard
def test_guard_catches_cli_output_and_subprocess_output():
    import click

    value = _planted("cli")

    @click.command()
    def leaky() -> None:
        click.echo(f"key {value}", err=True)

    with canary_guard.caught_leaks() as hits:
        CliRunner().invoke(leaky, [])
        subprocess.run([sys.executable, "-c", f"print({value!r})"], capture_output=True, text=True, check=True)
    assert len(hits) == 2 and hits[0].startswith("planted cli in CLI output")
    assert hits[1].startswith("planted cli in stdout of subprocess")


def test_forget_stops_masking_a_value():
    from orch.secret import forget, mask, registered

    value = f"made-up-{uuid.uuid4().hex[:8]}"
    Secret(value)
    assert value in registered() and mask(value) != value
    forget([value])
    assert value not in registered() and mask(value) == value


def test_file_scan_reads_every_journal_row_and_exempts_only_user_config(tmp_path):
    value = _planted("file")
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, client_id TEXT, note BLOB)")
    db.execute("INSERT INTO orders (client_id, note) VALUES ('orch-1', NULL), ('orch-2', ?)",
               (f"raw {value}".encode(),))
    db.commit()
    db.close()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "orch.log").write_text(f"INFO orch: using {value}\n")
    (tmp_path / "config.json").write_text(json.dumps({"brokers": {"x": {"api_key": value}}}))
    (tmp_path / "orch.toml").write_text(f'[brokers.x]\napi_key = "{value}"\n')
    (tmp_path / "session.json").write_text(json.dumps({"token": value}))
    try:
        hits = canary_guard.scan_tree(tmp_path, "tmp")
    finally:
        _remove_contents(tmp_path)                     # planted on purpose: the session-end scan must not count them
    assert sorted(hits) == ["planted file in file tmp/logs/orch.log", "planted file in file tmp/session.json",
                            "planted file in tmp/journal.sqlite: table orders, row 2, column note"]


def test_a_leaking_test_fails_the_run_named_without_the_secret(tmp_path):
    """The guard as the suite uses it, in a pytest run of its own: a leak in a log record, in captured
    output and in a journal left in tmp_path each fail the run; a marked test and a clean one do not; the
    secrets a property-based test makes up are forgotten after it (they would mask a later test's text)."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["orch.testing.canary_guard"]\n')
    (tmp_path / "test_leaks.py").write_text(textwrap.dedent("""
        import logging, sqlite3
        import pytest
        from orch.testing.canary import API_SECRET, PASSWORD, PIN

        def test_leaky_log():
            logging.getLogger("orch.somewhere").debug("signing with %s", API_SECRET)

        def test_leaky_print():
            print("pin is", PIN)

        def test_leaky_journal(tmp_path):
            db = sqlite3.connect(tmp_path / "journal.sqlite")
            db.execute("CREATE TABLE orders (note TEXT)")
            db.execute("INSERT INTO orders VALUES (?)", (PASSWORD,))
            db.commit()

        @pytest.mark.shows_secrets
        def test_reveal_on_purpose():
            print(API_SECRET)

        def test_clean():
            logging.getLogger("orch.somewhere").info("nothing secret")

        from hypothesis import given, settings, strategies as st
        from orch.secret import Secret, mask

        @settings(max_examples=3, database=None)
        @given(st.sampled_from(["USDT-made-up", "BTC/-made-up"]))
        def test_makes_up_secrets(value):
            Secret(value)

        def test_after_the_made_up_secrets():
            assert mask("buy BTC/-made-up for USDT-made-up") == "buy BTC/-made-up for USDT-made-up"
    """))
    env = {key: value for key, value in os.environ.items() if key != "ORCH_HOME"}
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "--basetemp", str(tmp_path / "base"), "--rootdir", str(tmp_path), str(tmp_path)],
                                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    finally:
        _remove_contents(tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "FAILED test_leaks.py::test_leaky_log" in out and "FAILED test_leaks.py::test_leaky_print" in out
    assert "canary.API_SECRET in log record orch.somewhere:DEBUG (level off)" in out
    assert "canary.PIN in captured stdout call" in out
    assert "canary.PASSWORD in basetemp/test_leaky_journal0/journal.sqlite: table orders, row 1, column note" in out
    assert "5 passed" in out and "test_clean" not in out and "test_reveal_on_purpose" not in out
    assert "pin is <canary canary.PIN>" in out                  # the failed test's captured output, redacted
    for value in (canary.API_SECRET, canary.PIN, canary.PASSWORD):
        assert value not in out


# ------------------------------------------------------------------------------------------ orch --debug


class _EchoingBroker(BaseHTTPRequestHandler):
    """A broker (or a proxy in front of one) that answers every request with an error that quotes the
    request back, headers and all: the worst case for credentials in error text."""

    status = 401

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        echo = f"refused {self.command} {self.path} headers {dict(self.headers)} body {body}"
        data = json.dumps({"code": 40110000 if self.status == 401 else 50010000, "message": echo}).encode()
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


def _echoing_server(status: int) -> ThreadingHTTPServer:
    handler = type(f"Echo{status}", (_EchoingBroker,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def alpaca_sim():
    pytest.importorskip("orch_alpaca")
    from orch_alpaca.sim import SPEC

    from orch.sim.clock import SimClock
    from orch.sim.runner import run_simulator_in_thread
    from orch.simulators import session_time

    with run_simulator_in_thread(SPEC, clock=SimClock(wall=session_time())) as running:
        yield running


def test_orch_debug_through_failing_paths_shows_no_canary(alpaca_sim, tmp_path):
    servers = {status: _echoing_server(status) for status in (401, 500)}
    try:
        configs = {}

        def config(name: str, section: dict) -> Path:
            path = tmp_path / f"{name}.json"
            path.write_text(json.dumps({"brokers": {"alpaca": section},
                                        "broker_routing": {"default_broker": "alpaca"},
                                        "logging": {"level": "DEBUG", "file": str(tmp_path / "logs" / f"{name}.log")}}))
            configs[name] = path
            return path

        good = dict(alpaca_sim.config)
        wrong = {**good, "api_key": canary.API_KEY_ID, "secret_key": canary.API_SECRET}
        config("sim", good)
        config("wrong_key", wrong)
        for status, server in servers.items():
            url = f"http://127.0.0.1:{server.server_port}"
            config(f"echo{status}", {**wrong, "base_url": url, "data_url": url})
        config("secret_wrong_type", {**good, "secret_key": int(canary.NUMERIC_ID)})
        (tmp_path / "bad_toml.toml").write_text(f'[brokers.alpaca]\napi_key = "{canary.API_KEY_ID}"\nsecret_key = \n')
        configs["bad_toml"] = tmp_path / "bad_toml.toml"

        runs = [  # (config, arguments, expected exit code)
            ("sim", ["account"], 0),
            ("sim", ["order", "buy", "AAPL", "1", "--broker", "alpaca"], 0),
            ("wrong_key", ["order", "buy", "AAPL", "1"], 1),
            ("echo401", ["account"], 1),
            ("echo500", ["order", "buy", "AAPL", "1", "limit", "10"], 1),
            ("sim", ["order", "buy", "AAPL", "0"], 2),
            ("sim", ["order", "buy", "AAPL", "1", "--broker", "nosuch"], 2),
            ("secret_wrong_type", ["account"], 2),
            ("bad_toml", ["config", "show"], 2),
        ]
        env = {**os.environ, "ORCH_HOME": str(tmp_path / "home")}

        def run(entry):
            name, args, _ = entry
            return subprocess.run([*_orch(), "--debug", "--config", str(configs[name]), *args], capture_output=True,
                                  text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)

        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(run, runs))
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()

    leaks = []
    for (name, args, code), result in zip(runs, results):
        assert result.returncode == code, (name, args, result.stderr[-2000:])
        found = find_canaries(result.stdout + result.stderr)
        if found:
            leaks.append(f"{name} {' '.join(args)}: {', '.join(found)}")
    assert "Traceback" in results[2].stderr and "INFO orch." in results[1].stderr    # --debug did show its detail
    assert "refused the API key" in results[3].stdout + results[3].stderr
    assert (tmp_path / "home" / "journal.sqlite").exists()
    leaks += canary_guard.scan_tree(tmp_path, "tmp")
    assert leaks == []


# Which canary stands in for each kind of credential field, so every simulator gets wrong credentials that
# are shaped right (a phone number where Trade Republic wants one) and fail at the broker, not the config.
_WRONG = {"api_key": canary.API_KEY_ID, "secret_key": canary.API_SECRET, "password": canary.PASSWORD,
          "pin": canary.PIN, "username": canary.USERNAME, "totp_secret": canary.TOTP_SECRET}
_WRONG_BY_BROKER = {("trade_republic", "username"): canary.PHONE, ("xtb", "api_key"): canary.NUMERIC_ID}


def test_orch_debug_with_wrong_canary_credentials_at_every_simulator_shows_none(tmp_path):
    """Every installed simulator with credentials, refused with canary credentials: the auth error, its
    --debug traceback and the log file name the field to check, never its value."""
    import contextlib

    from orch.sim.runner import run_simulator_in_thread
    from orch.simulators import simulator_spec

    fields: dict[str, list[str]] = {}
    for label in simulator_canaries():
        broker, _, field = label.partition(" simulator ")
        if broker != "alpaca":                         # covered above, with an echoing broker too
            fields.setdefault(broker, []).append(field)
    env = {**os.environ, "ORCH_HOME": str(tmp_path / "home")}
    with contextlib.ExitStack() as stack:
        configs = {}
        for broker in sorted(fields):
            running = stack.enter_context(run_simulator_in_thread(simulator_spec(broker)))
            section = dict(running.config)
            for field in fields[broker]:
                section[field] = _WRONG_BY_BROKER.get((broker, field), _WRONG.get(field, canary.API_SECRET))
            path = tmp_path / f"{broker}.json"
            path.write_text(json.dumps({"brokers": {broker: section},
                                        "logging": {"level": "DEBUG", "file": str(tmp_path / "logs" / f"{broker}.log")}}))
            configs[broker] = path

        def run(broker: str) -> subprocess.CompletedProcess:
            return subprocess.run([*_orch(), "--debug", "--config", str(configs[broker]), "account"],
                                  capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)

        with ThreadPoolExecutor(3) as pool:
            results = dict(zip(configs, pool.map(run, configs)))
    leaks = []
    for broker, result in results.items():
        out = result.stdout + result.stderr
        assert result.returncode == 1 and "refused" in out, (broker, out[-2000:])
        found = find_canaries(out)
        if found:
            leaks.append(f"{broker}: {', '.join(found)}")
    leaks += canary_guard.scan_tree(tmp_path, "tmp")
    assert leaks == []
