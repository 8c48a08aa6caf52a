"""The login session: web login v2 (app approval polled, or an authenticator code when asked), the
session cookies, their refresh before expiry, and (``secure_session = true``) their file.

Nothing of the login is logged: not the phone number, the PIN, the process id, the code or a cookie.
Cookie values are :class:`orch.secret.Secret` objects, so they are masked wherever they might leak.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Protocol

import trio

from orch.errors import AuthError, BrokerUnavailable, RateLimited
from orch.secret import Secret

from orch_trade_republic import auth, session_store
from orch_trade_republic.frames import BROKER
from orch_trade_republic.settings import TradeRepublicSettings
from orch_trade_republic.transport import HttpSession

POLL_SECONDS = 2.0
REFRESH_MARGIN = 60.0
CONFIRMED = ("CONFIRMED", "COMPLETED")


class Prompter(Protocol):
    """How the login reaches the user: ``notify`` tells (approve in the app), ``code`` asks (the
    authenticator code)."""

    def notify(self, text: str) -> None: ...

    async def code(self, text: str) -> str: ...


class NoPrompt:
    """No terminal: approvals are announced in the log; a code cannot be asked for."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def notify(self, text: str) -> None:
        self._logger.warning("%s", text)

    async def code(self, text: str) -> str:
        raise AuthError("Trade Republic asks for an authenticator code and there is no terminal to ask in",
                        broker=BROKER, hint="run `orch trade_republic login` in a terminal first")


class TerminalPrompt:
    def notify(self, text: str) -> None:
        import click

        click.echo(text, err=True)

    async def code(self, text: str) -> str:
        import click

        value = await trio.to_thread.run_sync(lambda: click.prompt(text, hide_input=True, err=True))
        return str(value).strip()


def default_prompter(logger: logging.Logger) -> Prompter:
    return TerminalPrompt() if sys.stdin.isatty() and sys.stderr.isatty() else NoPrompt(logger)


class SessionManager:
    """Holds the cookies of one Trade Republic session and keeps them valid."""

    def __init__(self, settings: TradeRepublicSettings, http: HttpSession, *, broker: str = BROKER,
                 logger: logging.Logger, prompter: Prompter, wall_clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._http = http
        self._broker = broker
        self._logger = logger
        self._prompter = prompter
        self._wall = wall_clock
        self._cookies: dict[str, Secret] = {}
        self.refresh_due = 0.0
        self.logins = 0
        self.path = (session_store.session_path(settings.username.reveal(), settings.api_url)
                     if settings.secure_session else None)
        self._headers = auth.login_headers(auth.device_info(settings.device_id, settings.locale), settings.locale)

    def __repr__(self) -> str:
        return f"<SessionManager {self._broker} cookies={sorted(self._cookies)} file={self.path is not None}>"

    # ---------------------------------------------------------------------------------- cookies

    def cookies(self) -> dict[str, str]:
        return {name: secret.reveal() for name, secret in self._cookies.items() if secret.is_set}

    def ws_headers(self) -> list[tuple[bytes, bytes]]:
        cookies = self.cookies()
        if not cookies:
            return []
        return [(b"Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode())]

    def _absorb(self, response: auth.HttpResponse) -> None:
        for name, value in response.set_cookies().items():
            if value:
                self._cookies[name] = Secret(value, source="session cookie")
            else:
                self._cookies.pop(name, None)

    @property
    def has_session(self) -> bool:
        return auth.SESSION_COOKIE in self._cookies

    def _schedule(self) -> None:
        token = self._cookies.get(auth.SESSION_COOKIE)
        ttl = auth.session_ttl(token.reveal() if token else None)
        self.refresh_due = trio.current_time() + max(5.0, ttl - REFRESH_MARGIN)

    # ---------------------------------------------------------------------------------- file

    def _save(self) -> None:
        if self.path is None:
            return
        token = self._cookies.get(auth.SESSION_COOKIE)
        session_store.save(self.path, {"api_url": self.settings.api_url.rstrip("/"), "cookies": self.cookies(),
                                       "expires_at": auth.session_expiry(token.reveal() if token else None),
                                       "saved_at": self._wall()})

    def _load(self) -> bool:
        if self.path is None:
            return False
        try:
            data = session_store.load(self.path)
        except session_store.UnsafeSessionFile as exc:
            self._logger.warning("%s: not using the saved session: %s", self._broker, exc)
            return False
        if data is None or data.get("api_url") != self.settings.api_url.rstrip("/"):
            return False
        self._cookies = {k: Secret(str(v), source="session file") for k, v in data["cookies"].items() if v}
        return self.has_session

    def forget(self) -> None:
        self._cookies.clear()
        if self.path is not None:
            session_store.remove(self.path)

    # ---------------------------------------------------------------------------------- flow

    async def open(self) -> None:
        """Reuse the saved session if the server still takes it (a refresh proves it), else log in."""
        if self._load():
            try:
                await self.refresh()
                return
            except AuthError:
                self._cookies.clear()
        await self.login()

    async def refresh(self) -> None:
        _, response = await self._http.call(auth.refresh(), self.cookies())
        self._absorb(response)
        if not self.has_session:
            raise AuthError("the session refresh returned no session", broker=self._broker)
        self._schedule()
        self._save()

    async def login(self) -> None:
        """Web login v2. Raises AuthError when refused, not approved in time, or a code is needed and
        cannot be asked for; RateLimited (never retried) when Trade Republic throttles logins."""
        settings = self.settings
        self._cookies.clear()
        self.logins += 1
        data, response = await self._http.call(
            auth.login(settings.username.reveal(), settings.pin.reveal(), self._headers))
        self._absorb(response)
        started = auth.parse_login_started(data, broker=self._broker)
        state = await self._process(started.process_id)
        if state.required_action == auth.AUTHENTICATOR:
            code = await self._prompter.code("Trade Republic authenticator code")
            data, response = await self._http.call(auth.authenticator(started.process_id, code, self._headers),
                                                   self.cookies())
            self._absorb(response)
            if isinstance(data, dict) and "status" in data:
                state = auth.parse_process(data, broker=self._broker)
        else:
            wall_left = (state.expires_at - self._wall()) if state.expires_at else None
            window = min(float(settings.approval_timeout_seconds), started.countdown,
                         wall_left if wall_left and wall_left > 0 else float("inf"))
            deadline = trio.current_time() + window
            if state.status == "PENDING":
                self._prompter.notify(f"Trade Republic: approve this login in the app ({window:.0f}s left)")
            while state.status == "PENDING":
                if trio.current_time() + POLL_SECONDS > deadline:
                    raise AuthError("the login was not approved in the app in time", broker=self._broker,
                                    hint="log in again and approve it in the Trade Republic app")
                await trio.sleep(POLL_SECONDS)
                state = await self._process(started.process_id)
            if state.status not in CONFIRMED:
                raise AuthError(f"the login ended {state.status.lower()}", broker=self._broker,
                                broker_code=state.status)
        if not self.has_session:
            raise AuthError("the login finished without a session cookie", broker=self._broker)
        self._schedule()
        self._save()

    async def _process(self, process_id: str) -> auth.ProcessState:
        data, response = await self._http.call(auth.process(process_id, self._headers), self.cookies())
        self._absorb(response)
        return auth.parse_process(data, broker=self._broker)

    async def keep_alive(self) -> None:
        """Refresh the session shortly before it expires, for as long as the connection lives."""
        while True:
            # Woken at least every 30 s: a login elsewhere (after the session ended) moves refresh_due.
            await trio.sleep_until(min(self.refresh_due, trio.current_time() + 30.0))
            if trio.current_time() < self.refresh_due:
                continue
            try:
                await self.refresh()
            except RateLimited as exc:
                self.refresh_due = trio.current_time() + (exc.retry_after or 5.0)
            except BrokerUnavailable as exc:
                self._logger.warning("%s: session refresh failed (%s); retrying", self._broker, exc.message)
                self.refresh_due = trio.current_time() + 5.0
            except AuthError as exc:
                # No silent re-login from the background (it would push an approval to the phone): the next
                # call that needs the session logs in again.
                self._logger.warning("%s: the session ended (%s)", self._broker, exc.message)
                self.refresh_due = float("inf")
