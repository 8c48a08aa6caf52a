"""orch.logs: secrets never reach a log line; httpx stays quiet; the file log appears only on demand."""

from __future__ import annotations

import logging

import pytest

from orch import logs
from orch.secret import Secret

CANARY = "canary-Lg7Rt2Wq9Vx4"


@pytest.fixture(autouse=True)
def clean_logging():
    logs.reset_logging()
    yield
    logs.reset_logging()
    for name in logs.PINNED_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.fixture
def secret() -> Secret:
    return Secret(CANARY)  # registers the value with the masker


def ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, logs._MARK, False)]


def test_secret_in_message_args_and_traceback_is_masked(secret, capsys):
    logs.setup_logging()
    log = logs.get_logger("alpaca")
    log.warning("key %s in %r", CANARY, {"k": CANARY})
    try:
        raise RuntimeError(f"refused key {CANARY}")
    except RuntimeError:
        log.exception("connect failed for %s", CANARY)
    err = capsys.readouterr().err
    assert CANARY not in err
    assert err.count("********") >= 4
    assert "WARNING orch.alpaca: key ******** in" in err
    assert "RuntimeError: refused key ********" in err


def test_signatures_in_urls_are_masked(capsys):
    logs.setup_logging()
    logs.get_logger("binance").warning(
        "GET https://api.binance.com/api/v3/order?symbol=BTCUSDT&timestamp=1&signature=9f86d081884c7d65")
    err = capsys.readouterr().err
    assert "9f86d081884c7d65" not in err and "signature=********" in err


def test_stderr_shows_warnings_only_unless_debug(capsys):
    logs.setup_logging()
    log = logs.get_logger("core")
    log.info("routine")
    log.warning("attention")
    err = capsys.readouterr().err
    assert "routine" not in err and "attention" in err

    logs.setup_logging(debug=True)
    log.debug("details")
    assert "DEBUG orch.core: details" in capsys.readouterr().err


def test_setup_twice_does_not_duplicate_handlers(capsys):
    logs.setup_logging()
    logs.setup_logging(debug=True)
    assert len(ours()) == 1
    logs.get_logger("x").warning("once")
    assert capsys.readouterr().err.count("once") == 1


def test_httpx_is_pinned_at_warning_even_with_debug(secret, capsys):
    logs.setup_logging(debug=True)
    logging.getLogger("httpx").info('HTTP Request: GET https://api.example/x?apiKey=%s "HTTP/1.1 200 OK"',
                                    CANARY)
    logging.getLogger("httpcore.http11").debug("send_request_headers.started")
    assert logging.getLogger("httpx").level == logging.WARNING
    assert capsys.readouterr().err == ""


def test_every_handler_has_the_redacting_filter(tmp_path):
    logs.setup_logging()
    logs.enable_file_log(tmp_path / "f.log")
    handlers = ours()
    assert len(handlers) == 2
    assert all(any(isinstance(f, logs.RedactingFilter) for f in h.filters) for h in handlers)


def test_file_log_only_on_request_and_created_lazily(secret, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logs.setup_logging(file=None)
    logs.get_logger("core").warning("no file yet")
    assert not (tmp_path / "logs").exists()

    handler = logs.enable_file_log()
    assert handler is not None
    default = tmp_path / "logs" / "trading_orchestrator.log"
    assert not default.exists()  # nothing logged yet: nothing on disk
    logs.get_logger("alpaca").info("order sent with key %s", CANARY)
    handler.flush()
    text = default.read_text()
    assert "INFO orch.alpaca: order sent with key ********" in text
    assert CANARY not in text


def test_file_log_path_from_setup_and_off_when_empty(tmp_path):
    target = tmp_path / "deep" / "dir" / "orch.log"
    logs.setup_logging(file=str(target), level="DEBUG")
    logs.get_logger("core").debug("fine detail")
    assert not target.exists()
    handler = logs.enable_file_log()
    logs.get_logger("core").debug("fine detail")
    handler.flush()
    assert "fine detail" in target.read_text()
    assert logs.enable_file_log("") is None


def test_loggers_are_under_orch():
    assert logs.get_logger("alpaca").name == "orch.alpaca"
    assert logs.get_logger("orch.journal").name == "orch.journal"


def test_unknown_level_is_a_config_error():
    from orch.errors import ConfigError

    with pytest.raises(ConfigError, match="logging.level"):
        logs.setup_logging(level="LOUD")
