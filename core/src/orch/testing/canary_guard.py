"""The secret-canary guard: a pytest plugin that fails any test during which a canary secret leaks.

Registered by the repository's root ``conftest.py`` (``pytest_plugins = ["orch.testing.canary_guard"]``);
``-p no:orch.testing.canary_guard`` turns it off. The canaries (:mod:`orch.testing.canary`) are orch's
built-in ones plus the credentials every installed simulator hands out, so whatever road a test takes to a
broker, the secret in play is a canary. Scanned, while each test runs:

* **log records**: every record of an ``orch.*`` logger, at any level, *including levels that are switched
  off* (``--debug`` would show them), and records of other loggers at WARNING and above (orch never shows
  their lower levels). The text scanned is the raw message with its arguments and traceback, before
  :class:`orch.logs.RedactingFilter` masks it: code that hands a secret to the logger is a leak even when
  the masker happens to know that value (it does not know derived ones, nor does a user's own handler);
* **error texts**: every :class:`orch.errors.OrchError` created (its text, hint and the broker's message);
* **CLI output**: every ``click.testing.CliRunner`` result and every ``subprocess`` output a test collects
  through ``communicate()`` / ``run()`` (the real ``orch`` script, ``--debug`` tracebacks included);
* **captured stdout/stderr** of the test (pytest's report sections).

A hit fails that test (in its call phase, or its teardown for what happens later) with one line per hit:
the canary's label and where it was seen, never the value. At the end of the session every file under
pytest's base temporary directory and the session's ``ORCH_HOME`` is scanned: SQLite databases (journal,
rate budget) row by row, every column; other files as text. Exempt are the config files a user writes,
which hold credentials legitimately: any TOML file, and JSON with a top-level ``brokers`` table. A hit in
a file fails the run, naming the file (its directory names the test) and the table/column. What the session appended
to ``logs/*.log`` under the working directory (the default file log is relative to it) is scanned too.

The session's ``ORCH_HOME`` is set to a fresh directory under the base temp (unless the caller set one), so
journals and session stores the suite writes never land in the developer's own state directory.

A test that must show a secret (proving ``--reveal`` works, say) carries ``@pytest.mark.shows_secrets``:
its hits are not counted. Tests that put a secret in text to prove it is masked need no marker when they
use their own value, not a canary.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orch import secret
from orch.testing.canary import default_set, simulator_canaries

MARKER = "shows_secrets"
ORCH_LOGGER = "orch"
_LEVEL_METHODS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                  "error": logging.ERROR, "exception": logging.ERROR, "critical": logging.CRITICAL}
_MAX_FILE = 20 * 1024 * 1024
_SQLITE_MAGIC = b"SQLite format 3\x00"


class _Guard:
    """Hits seen, attributed to the test that was running."""

    def __init__(self) -> None:
        self.canaries = default_set()
        self.lock = threading.Lock()
        self.current: str | None = None
        self.pending: list[str] = []                   # hits of the running test
        self.session_hits: list[str] = []              # hits outside any test, and in files at the end
        self.failed_tests: list[str] = []
        self.scanned = 0
        self.restore: list[tuple[Any, str, Any]] = []
        self.owner: pytest.Config | None = None
        self.file_seconds = 0.0

    def check(self, text: Any, where: str) -> None:
        self.scanned += 1
        labels = self.canaries.find(text)
        if not labels:
            return
        line = f"{', '.join(labels)} in {where}"
        with self.lock:
            if self.current is None:
                self.session_hits.append(line)
            elif line not in self.pending:
                self.pending.append(line)

    def patch(self, owner: Any, name: str, value: Any) -> None:
        self.restore.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    def unpatch(self) -> None:
        while self.restore:
            owner, name, value = self.restore.pop()
            setattr(owner, name, value)


_guard: _Guard | None = None


# ------------------------------------------------------------------------------------------ taps


def _is_orch(name: str) -> bool:
    return name == ORCH_LOGGER or name.startswith(ORCH_LOGGER + ".")


def _record_text(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string still gets its parts scanned
        message = f"{record.msg!r} {record.args!r}"
    parts = [message]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def _tap_logging(guard: _Guard) -> None:
    make_record = logging.Logger.makeRecord

    # Every record that is created (enabled level), whatever handlers it later reaches or not.
    @functools.wraps(make_record)
    def makeRecord(self, *args, **kwargs):  # noqa: N802 - logging's name
        record = make_record(self, *args, **kwargs)
        if record.levelno >= logging.WARNING or _is_orch(record.name):
            guard.check(_record_text(record), f"log record {record.name}:{record.levelname}")
        return record

    guard.patch(logging.Logger, "makeRecord", makeRecord)

    # A record of a level that is switched off is never created; orch's --debug would create it.
    def disabled_tap(method_name: str, level: int) -> Any:
        original = logging.Logger.__dict__[method_name]

        @functools.wraps(original)
        def method(self, msg, *args, **kwargs):
            if not self.isEnabledFor(level) and _is_orch(self.name):
                try:
                    text = str(msg) % args if args else str(msg)
                except Exception:  # noqa: BLE001
                    text = f"{msg!r} {args!r}"
                guard.check(text, f"log record {self.name}:{logging.getLevelName(level)} (level off)")
            # One more frame between the caller and logging: the record must still name the caller.
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
            return original(self, msg, *args, **kwargs)

        return method

    for name, level in _LEVEL_METHODS.items():
        guard.patch(logging.Logger, name, disabled_tap(name, level))

    original_log = logging.Logger.__dict__["log"]

    @functools.wraps(original_log)
    def log(self, level, msg, *args, **kwargs):
        if isinstance(level, int) and not self.isEnabledFor(level) and _is_orch(self.name):
            try:
                text = str(msg) % args if args else str(msg)
            except Exception:  # noqa: BLE001
                text = f"{msg!r} {args!r}"
            guard.check(text, f"log record {self.name}:{logging.getLevelName(level)} (level off)")
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        return original_log(self, level, msg, *args, **kwargs)

    guard.patch(logging.Logger, "log", log)


def _tap_errors(guard: _Guard) -> None:
    from orch.errors import OrchError

    original = OrchError.__dict__["__init__"]

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):  # noqa: N807
        original(self, *args, **kwargs)
        try:
            text = str(self)
        except Exception:  # noqa: BLE001 - a subclass may set what __str__ needs after this returns
            text = str(getattr(self, "message", ""))
        extra = getattr(self, "broker_message", None)
        guard.check(f"{text}\n{extra or ''}", f"error text {type(self).__name__}")

    guard.patch(OrchError, "__init__", __init__)


def _tap_cli(guard: _Guard) -> None:
    from click.testing import CliRunner

    invoke = CliRunner.__dict__["invoke"]

    @functools.wraps(invoke)
    def cli_invoke(self, cli, args=None, *rest, **kwargs):
        result = invoke(self, cli, args, *rest, **kwargs)
        shown = " ".join(args) if isinstance(args, (list, tuple)) else str(args or "")
        guard.check(result.output, f"CLI output (CliRunner: {shown[:80]})")
        return result

    guard.patch(CliRunner, "invoke", cli_invoke)

    communicate = subprocess.Popen.__dict__["communicate"]

    @functools.wraps(communicate)
    def popen_communicate(self, *args, **kwargs):
        out, err = communicate(self, *args, **kwargs)
        command = self.args if isinstance(self.args, str) else " ".join(map(str, self.args))
        for stream, data in (("stdout", out), ("stderr", err)):
            if data:
                guard.check(data, f"{stream} of subprocess `{command[:100]}`")
        return out, err

    guard.patch(subprocess.Popen, "communicate", popen_communicate)


def active() -> bool:
    """Whether the guard is watching this session."""
    return _guard is not None


@contextlib.contextmanager
def caught_leaks() -> Iterator[list[str]]:
    """For the guard's own tests: hits inside the block are handed over in the yielded list (one line
    each: labels and where) instead of failing the running test."""
    guard = _guard
    if guard is None:
        raise RuntimeError("the canary guard is not active (-p no:orch.testing.canary_guard?)")
    with guard.lock:
        before = len(guard.pending)
    hits: list[str] = []
    try:
        yield hits
    finally:
        with guard.lock:
            hits.extend(guard.pending[before:])
            del guard.pending[before:]


def check(text: Any, where: str) -> None:
    """Scan ``text`` now (a test's own output it collects some other way); a hit fails the running test."""
    if _guard is not None:
        _guard.check(text, where)


# ------------------------------------------------------------------------------------------ files


def _is_user_config(path: Path, data: bytes) -> bool:
    """A config file as the user writes it (credentials belong there, or in the environment): any TOML file
    (orch writes none but configs, and a broken one is still the user's), a JSON one with ``brokers``."""
    if path.suffix == ".toml":
        return True
    if path.suffix != ".json":
        return False
    try:
        text = data.decode("utf-8")
        parsed = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(parsed, dict) and "brokers" in parsed


def _scan_sqlite(check: Callable[[Any, str], None], path: Path, where: str) -> bool:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return False
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for number, row in enumerate(cursor, 1):
                for column, value in zip(columns, row):
                    if isinstance(value, (str, bytes)):
                        check(value, f"{where}: table {table}, row {number}, column {column}")
    except sqlite3.Error:
        return False
    finally:
        db.close()
    return True


def scan_tree(root: Path, label: str, check: Callable[[Any, str], None] | None = None) -> list[str]:
    """Scan every file under ``root`` (see the module docstring for what is exempt) with ``check(text,
    where)``; without one, with the process-wide canaries, returning one line per hit."""
    hits: list[str] = []
    if check is None:
        canaries = default_set()

        def check(text: Any, where: str) -> None:
            labels = canaries.find(text)
            if labels:
                hits.append(f"{', '.join(labels)} in {where}")

    for path in sorted(root.rglob("*")):
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > _MAX_FILE:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        where = f"{label}/{path.relative_to(root)}"
        if data.startswith(_SQLITE_MAGIC) and _scan_sqlite(check, path, where):
            continue
        if _is_user_config(path, data):
            continue
        check(data, f"file {where}")
    return hits


# ------------------------------------------------------------------------------------------ hooks


def pytest_configure(config: pytest.Config) -> None:
    global _guard
    config.addinivalue_line(
        "markers", f"{MARKER}: the test shows a secret on purpose; the canary guard does not count its hits")
    if _guard is not None:
        return
    _guard = _Guard()
    _guard.owner = config
    for label, value in simulator_canaries().items():
        _guard.canaries.add(label, value)
    _tap_logging(_guard)
    _tap_errors(_guard)
    _tap_cli(_guard)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _guard
    if _guard is not None and _guard.owner is config:
        _guard.unpatch()
        _guard = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    if _guard is None:
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None and not os.environ.get("ORCH_HOME"):
        home = factory.mktemp("orch-home", numbered=False)
        os.environ["ORCH_HOME"] = str(home)
        session.config.stash[_HOME] = home
    # The default log file is relative to the working directory (logs/trading_orchestrator.log): what the
    # session appends to a log there is scanned at the end.
    logs = Path.cwd() / "logs"
    session.config.stash[_CWD_LOGS] = {
        path: path.stat().st_size for path in (logs.glob("*.log") if logs.is_dir() else ()) if path.is_file()}


_HOME = pytest.StashKey[Path]()
_CWD_LOGS = pytest.StashKey[dict]()


def _scan_cwd_logs(guard: _Guard, before: dict[Path, int]) -> None:
    logs = Path.cwd() / "logs"
    if not logs.is_dir():
        return
    for path in logs.glob("*.log"):
        try:
            with path.open("rb") as handle:
                handle.seek(before.get(path, 0))
                data = handle.read(_MAX_FILE)
        except OSError:
            continue
        if data:
            guard.check(data, f"file {path} (what this session appended)")


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    if _guard is not None:
        with _guard.lock:
            _guard.current = nodeid
            _guard.pending = []


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    if _guard is not None:
        with _guard.lock:
            _guard.current = None
            _guard.pending = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A property-based test makes up hundreds of secrets; the process-wide masker would keep them all and
    then mask (and refuse to journal) other tests' text that happens to hold one ("USDT"). What such a
    test registers is forgotten when it ends; fixtures' secrets (registered in setup) stay."""
    hypothesis_test = getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
    if not hypothesis_test:
        return (yield)
    before = secret.registered()
    try:
        return (yield)
    finally:
        secret.forget(secret.registered() - before)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    guard = _guard
    if guard is None:
        return report
    # Sections accumulate over the phases; this phase's own end with its name.
    for title, content in report.sections:
        if title.startswith(("Captured stdout", "Captured stderr")) and title.endswith(call.when):
            guard.check(content, title.lower())
    if call.when == "setup" and report.passed:
        return report                                  # the call phase reports them
    with guard.lock:
        hits, guard.pending = guard.pending, []
    if not hits or item.get_closest_marker(MARKER) is not None:
        return report
    message = "secret canary leaked during this test:\n" + "\n".join(f"  {line}" for line in hits)
    guard.failed_tests.append(item.nodeid)
    # pytest shows a failed test's captured output: not with the secret in it.
    report.sections = [(title, guard.canaries.redact(content)) for title, content in report.sections]
    if report.passed:
        report.outcome = "failed"
        report.longrepr = message
    else:
        report.sections.append(("secret canaries", message))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    guard = _guard
    if guard is None:
        return
    roots: list[tuple[Path, str]] = []
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            roots.append((factory.getbasetemp(), "basetemp"))
        except OSError:
            pass
    home = session.config.stash.get(_HOME, None)
    if home is not None and not any(home.is_relative_to(root) for root, _ in roots):
        roots.append((home, "ORCH_HOME"))
    started = time.perf_counter()
    for root, label in roots:
        if root.is_dir():
            scan_tree(root, label, guard.check)
    _scan_cwd_logs(guard, session.config.stash.get(_CWD_LOGS, {}))
    guard.file_seconds = time.perf_counter() - started
    if home is not None and os.environ.get("ORCH_HOME") == str(home):
        del os.environ["ORCH_HOME"]
    if guard.session_hits and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    guard = _guard
    if guard is None:
        return
    if guard.session_hits or guard.failed_tests:
        terminalreporter.section("secret canaries", red=True)
        for nodeid in guard.failed_tests:
            terminalreporter.line(f"leak during {nodeid}")
        for line in guard.session_hits:
            terminalreporter.line(f"leak: {line}")
    else:
        terminalreporter.line(f"secret canaries: {len(guard.canaries)} canaries, {guard.scanned} texts scanned "
                              f"(files at the end: {guard.file_seconds:.2f} s), no leak")


__all__ = ["MARKER", "active", "caught_leaks", "check", "scan_tree"]
