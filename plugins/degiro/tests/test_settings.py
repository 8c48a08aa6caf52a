"""The brokers.degiro section: the guide's block as written, the derived paper flag (real DEGIRO is always
live), the core's live guard applied to it, the proxy, and secrets kept out of reprs."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import trio

from orch.config import config_from_data
from orch.context import ConnectContext
from orch.errors import AuthError, ConfigError, LiveTradingRefused
from orch.orchestrator import check_live_guard, paper_mode
from orch.resilience.limiter import RateLimiter

from orch_degiro.connection import DegiroConnection
from orch_degiro.plugin import orch_broker_info
from orch_degiro.settings import DegiroSettings, is_loopback_url, proxy_for

GUIDE = Path(__file__).resolve().parents[3] / "core" / "tests" / "fixtures" / "guide" / "degiro_basic.json"
CANARY = "canary-degiro-pw-7c1e"


def settings(**section):
    section = {"enabled": True, "acknowledge_unofficial": True, **section}
    cfg = config_from_data({"brokers": {"degiro": section}}, source="<test>", env={})
    return cfg.brokers["degiro"]


def test_the_guide_block_is_accepted_as_written():
    block = json.loads(GUIDE.read_text())["brokers"]["degiro"]
    parsed = DegiroSettings(**block)
    assert parsed.mfa is False and parsed.session is None and parsed.use_proxy is False
    assert not parsed.username.is_set and not parsed.password.is_set  # placeholders mean "not set"
    assert parsed.paper is False


@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:18009", True), ("http://[::1]:1", True), ("http://localhost:5", True),
    ("https://trader.degiro.nl", False), ("https://127.0.0.1.example.com", False)])
def test_loopback_urls(url, loopback):
    assert is_loopback_url(url) is loopback


def test_real_degiro_is_always_live_and_the_core_guard_needs_live():
    real = settings(username="u", password=CANARY)
    assert real.paper is False and not paper_mode("degiro", real, orch_broker_info().paper_flag)
    with pytest.raises(LiveTradingRefused, match="--live"):
        check_live_guard("degiro", real, "paper", live=False)
    check_live_guard("degiro", real, "paper", live=True)


def test_a_simulator_is_never_live():
    sim = settings(base_url="http://127.0.0.1:18009", username="u", password=CANARY)
    assert sim.paper is True
    check_live_guard("degiro", sim, "paper", live=False)
    with pytest.raises(LiveTradingRefused):
        check_live_guard("degiro", sim, "paper", live=True)


def test_paper_true_on_real_degiro_is_a_config_error():
    with pytest.raises(ConfigError, match="no paper account"):
        settings(paper=True)


def test_plain_http_only_to_loopback():
    with pytest.raises(ConfigError, match="loopback"):
        settings(base_url="http://trader.degiro.nl")


def test_use_proxy_needs_a_url_and_the_url_alone_does_nothing():
    with pytest.raises(ConfigError, match="proxy_url"):
        settings(use_proxy=True, proxy_url="")
    assert proxy_for(settings(proxy_url="http://127.0.0.1:3128")) is None
    assert proxy_for(settings(use_proxy=True, proxy_url="http://127.0.0.1:3128")) == "http://127.0.0.1:3128"


def test_secrets_stay_out_of_reprs():
    secret_proxy = "http://proxyuser:proxy-pass-9f@127.0.0.1:3128"
    parsed = settings(username="someone", password=CANARY, totp_secret="JBSWY3DPEHPK3PXP", session="ABCDEF0123456789",
                      use_proxy=True, proxy_url=secret_proxy)
    text = repr(parsed) + str(parsed)
    for value in (CANARY, "JBSWY3DPEHPK3PXP", "ABCDEF0123456789", "proxy-pass-9f"):
        assert value not in text


async def test_requests_go_through_the_configured_proxy(autojump_clock):
    """A stand-in HTTP proxy on loopback sees the login as an absolute-form request."""
    seen: list[bytes] = []

    async def proxy(stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some()
            if not chunk:
                return
            data += chunk
        seen.append(data.split(b"\r\n", 1)[0])
        body = b'{"status":3,"statusText":"badCredentials","loginFailures":1}'
        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "
                              + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, proxy, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        parsed = settings(base_url="http://127.0.0.1:9", username="u", password=CANARY, use_proxy=True,
                          proxy_url=f"http://127.0.0.1:{port}")
        context = ConnectContext(broker="degiro", nursery=nursery,
                                 limiter=RateLimiter.from_settings(parsed.rate_limits, orch_broker_info().rate_limits))
        conn = DegiroConnection(parsed, context)
        with pytest.raises(AuthError):
            await conn.open()
        await conn.aclose()
        nursery.cancel_scope.cancel()
    assert seen == [b"POST http://127.0.0.1:9/login/secure/login HTTP/1.1"]
