"""Logging for the orch process: stderr, an optional file, and secrets masked on every handler.

* :func:`setup_logging` (called once per CLI invocation) installs a stderr handler: WARNING and above,
  or everything from DEBUG with ``--debug``. orch's own loggers are named under ``"orch"``.
* The file log (``logs/trading_orchestrator.log`` as in the broker guide, or ``logging.file`` in config)
  exists only when a command asks for it with :func:`enable_file_log`; the file and its directory are
  created at the first record, so a read-only command leaves nothing on disk.
* Every handler carries a :class:`RedactingFilter`: the formatted message, its arguments, the traceback
  and stack text go through :func:`orch.secret.mask`, which replaces every secret value this process has
  seen. Binance-style ``signature=`` query values are masked too.
* ``httpx`` and ``httpcore`` are pinned at WARNING even with ``--debug``: httpx logs full request URLs at
  INFO, and a signed Binance URL carries its signature (and the API key travels in a header httpx does not
  mask).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from orch.secret import REDACTED, mask

ROOT_LOGGER = "orch"
DEFAULT_LOG_FILE = "logs/trading_orchestrator.log"
PINNED_LOGGERS = ("httpx", "httpcore")

_STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"
_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Marks handlers installed here, so a second setup (tests, an interactive shell) replaces rather than
# duplicates them.
_MARK = "_orch_handler"

_SIGNATURE = re.compile(r"(?i)(signature=)[^&\s\"']+")

_state: dict[str, object] = {"file": None, "debug": False, "level": logging.INFO}


def redact(text: str) -> str:
    """:func:`orch.secret.mask` plus request signatures."""
    return _SIGNATURE.sub(lambda m: m.group(1) + REDACTED, mask(text))


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats it. The record is rewritten in place (message
    merged with its arguments, traceback pre-formatted), so every later handler sees the masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not hide the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (click's and pytest's captures
    replace it), never to a stream that was current at setup and may be closed since."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # noqa: ANN201 - logging's attribute
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


class _LazyFileHandler(logging.FileHandler):
    """A FileHandler that also creates the log directory, at the first record."""

    def __init__(self, filename: str | os.PathLike[str]) -> None:
        super().__init__(filename, encoding="utf-8", delay=True)

    def _open(self):  # noqa: ANN202 - logging's own signature
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def _level(value: str | int) -> int:
    if isinstance(value, int):
        return value
    number = logging.getLevelName(value.strip().upper())
    if not isinstance(number, int):
        from orch.errors import ConfigError

        raise ConfigError(f"unknown log level {value!r} (use DEBUG, INFO, WARNING or ERROR)",
                          path="logging.level")
    return number


def _install(handler: logging.Handler, level: int, fmt: str) -> logging.Handler:
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(RedactingFilter())
    setattr(handler, _MARK, True)
    logging.getLogger().addHandler(handler)
    return handler


def _remove(kind: type[logging.Handler] | None = None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False) and (kind is None or isinstance(handler, kind)):
            root.removeHandler(handler)
            handler.close()


def setup_logging(debug: bool = False, file: str | None = None, level: str | int = "INFO") -> None:
    """Install the stderr handler (WARNING, or DEBUG with ``debug``) and remember ``file`` and ``level``
    for :func:`enable_file_log`. Handlers hang on the root logger so third-party records are masked
    too; orch's loggers (``orch.*``) pass ``level`` (DEBUG with ``debug``), others WARNING."""
    resolved = logging.DEBUG if debug else _level(level)
    _state.update(file=file, debug=debug, level=resolved)
    _remove()
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    logging.getLogger(ROOT_LOGGER).setLevel(resolved)
    for name in PINNED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    _install(_StderrHandler(), logging.DEBUG if debug else logging.WARNING, _STDERR_FORMAT)


def enable_file_log(path: str | os.PathLike[str] | None = None,
                    level: str | int | None = None) -> logging.Handler | None:
    """Start logging to a file: ``path``, else the ``file`` given to :func:`setup_logging`, else
    ``logs/trading_orchestrator.log``. An empty path (``logging.file = ""``) means no file log. The file
    is created at the first record. Returns the handler (None when off)."""
    target = path if path is not None else (_state["file"] or DEFAULT_LOG_FILE)
    if not str(target):
        return None
    _remove(_LazyFileHandler)
    resolved = logging.DEBUG if _state["debug"] else _level(level if level is not None else _state["level"])
    orch_logger = logging.getLogger(ROOT_LOGGER)
    if orch_logger.getEffectiveLevel() > resolved:
        orch_logger.setLevel(resolved)
    return _install(_LazyFileHandler(target), resolved, _FILE_FORMAT)


def disable_file_log() -> None:
    _remove(_LazyFileHandler)


def get_logger(name: str) -> logging.Logger:
    """A logger under ``orch`` (``get_logger("alpaca")`` is ``orch.alpaca``)."""
    return logging.getLogger(name if name == ROOT_LOGGER or name.startswith(ROOT_LOGGER + ".")
                             else f"{ROOT_LOGGER}.{name}")


def reset_logging() -> None:
    """Remove the handlers :func:`setup_logging` and :func:`enable_file_log` installed (tests, embedding)."""
    _remove()
    _state.update(file=None, debug=False, level=logging.INFO)
    logging.getLogger(ROOT_LOGGER).setLevel(logging.NOTSET)
