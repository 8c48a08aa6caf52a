"""The guide's Trade Republic block carries a password Trade Republic never asks for: its placeholder
must not stop a configured account from connecting."""

from orch.config import config_from_data, config_warnings, require_secrets


def test_the_guides_password_placeholder_does_not_block():
    cfg = config_from_data({"brokers": {"trade_republic": {
        "enabled": True, "acknowledge_unofficial": True, "username": "+4915112345678",
        "password": "YOUR_TR_PASSWORD", "pin": "9157", "device_id": None, "secure_session": True}}}, env={})
    settings = require_secrets(cfg, "trade_republic")
    assert settings.pin.reveal() == "9157"
    assert not [w for w in config_warnings(cfg) if "password" in w]
