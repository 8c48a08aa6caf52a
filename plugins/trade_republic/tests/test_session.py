"""The login against the simulator: the session file (0600, reused, refreshed), memory-only sessions,
the authenticator code, an approval that never comes, and login throttling reported, never retried."""

from __future__ import annotations

import logging
import os
import stat

import pytest
import trio

from orch.context import ConnectContext
from orch.errors import AuthError, RateLimited
from orch.resilience import RateLimiter
from orch.testing.harness import open_harness
from orch_trade_republic.connection import TradeRepublicConnection
from orch_trade_republic.sim import AUTHENTICATOR_CODE, SIM_PHONE, SIM_PIN, TradeRepublicSim


def sim_of(h):
    return TradeRepublicSim.of(h.sim.running.engine)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_HOME", str(tmp_path))
    return tmp_path


async def test_the_session_file_is_private_reused_and_kept_fresh(autojump_clock, home):
    async with open_harness("trade_republic", connect=False) as h:
        settings = h.settings_from({**h.section, "secure_session": True})
        client = await h.connect(settings)
        path = h.connections[client].session.path
        assert path.parent == home / "trade_republic"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        text = path.read_text()
        assert SIM_PIN not in text and SIM_PHONE not in text and SIM_PHONE[1:] not in path.name
        sim = sim_of(h)
        assert sim.counters["login"] == 1

        # A second connection (another run) reuses the saved session: no new login, no app approval.
        second = await h.connect(settings)
        await second.account()
        assert sim.counters["login"] == 1

        # The session lives ~5 minutes; it is refreshed before it expires and the file follows.
        before = sim.counters.get("refresh", 0)
        saved = path.read_text()
        await trio.sleep(1000)
        assert sim.counters["refresh"] - before >= 2 * 3  # both connections, every ~4 minutes
        assert path.read_text() != saved and stat.S_IMODE(path.stat().st_mode) == 0o600
        account = await client.account()
        assert account.paper is True


async def test_memory_only_sessions_write_nothing(autojump_clock, home):
    async with open_harness("trade_republic") as h:
        assert h.settings.secure_session is False
        await h.client.account()
        assert h.conn.session.path is None
        assert not (home / "trade_republic").exists()


async def test_a_session_file_others_can_read_is_not_used(autojump_clock, home, caplog):
    async with open_harness("trade_republic", connect=False) as h:
        settings = h.settings_from({**h.section, "secure_session": True})
        client = await h.connect(settings)
        path = h.connections[client].session.path
        os.chmod(path, 0o644)
        caplog.set_level(logging.WARNING)
        await h.connect(settings)
        assert sim_of(h).counters["login"] == 2
        assert "accessible to other users" in caplog.text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


class CodePrompt:
    def __init__(self, code: str) -> None:
        self.code_asked = 0
        self.notices: list[str] = []
        self._code = code

    def notify(self, text: str) -> None:
        self.notices.append(text)

    async def code(self, text: str) -> str:
        self.code_asked += 1
        return self._code


async def _direct(h, nursery, prompter):
    context = ConnectContext(broker="trade_republic", nursery=nursery,
                             limiter=RateLimiter.from_settings(h.settings.rate_limits, h.loaded.info.rate_limits))
    return await TradeRepublicConnection(h.settings, context, prompter=prompter).open()


async def test_an_authenticator_code_is_asked_for_when_the_server_wants_one(autojump_clock):
    async with open_harness("trade_republic", connect=False) as h:
        sim_of(h).options.second_factor = "authenticator"
        prompt = CodePrompt(AUTHENTICATOR_CODE)
        conn = await _direct(h, h.nursery, prompt)
        assert prompt.code_asked == 1 and conn.sec_acc_no
        await conn.aclose()
        with pytest.raises(AuthError, match="Invalid code"):
            await _direct(h, h.nursery, CodePrompt("000000"))
        # Without a terminal (the hook's default under pytest) a code cannot be asked for.
        with pytest.raises(AuthError, match="no terminal"):
            await h.connect()


async def test_an_approval_that_never_comes_ends_in_an_auth_error(autojump_clock):
    async with open_harness("trade_republic", connect=False) as h:
        sim_of(h).options.approve_after_polls = 10**6
        prompt = CodePrompt("")
        with pytest.raises(AuthError, match="not approved"):
            await _direct(h, h.nursery, prompt)
        assert prompt.notices and "approve" in prompt.notices[0]
        assert 30 <= sim_of(h).counters["login_poll"] <= 61  # every 2 s within the 120 s window


async def test_login_throttling_is_reported_and_never_retried(autojump_clock):
    async with open_harness("trade_republic", connect=False) as h:
        wrong = h.settings_from({**h.section, "pin": "WRONG-PIN-0000"})
        for _ in range(2):
            with pytest.raises(AuthError):
                await h.connect(wrong)
        with pytest.raises(RateLimited) as throttled:
            await h.connect(wrong)
        assert throttled.value.banned_until is not None and throttled.value.broker_code == "TOO_MANY_REQUESTS"
        assert "next attempt allowed at" in str(throttled.value)
        assert sim_of(h).counters["login"] == 3  # one request per connect: nothing retried
        # The right PIN is throttled too until the time the server gave.
        with pytest.raises(RateLimited):
            await h.connect()
        assert sim_of(h).counters["login"] == 4
        await trio.sleep(throttled.value.retry_after + 1)
        await h.connect()
