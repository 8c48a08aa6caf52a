"""Secrets never show their value, and registered values are masked wherever they appear."""

import pickle

import pytest

from orch.secret import REDACTED, Secret, is_placeholder, mask

CANARY = "canary-Secret-7f3a9c"


def test_secret_hides_its_value_everywhere():
    secret = Secret(CANARY, source="env:ORCH_TEST_KEY")
    for rendering in (repr(secret), str(secret), f"{secret}", "%s" % secret, f"{secret!r}"):
        assert CANARY not in rendering
    assert secret.reveal() == CANARY
    assert "env:ORCH_TEST_KEY" in repr(secret)


def test_secret_cannot_be_pickled():
    with pytest.raises(TypeError):
        pickle.dumps(Secret(CANARY))


@pytest.mark.parametrize("value", ["YOUR_API_KEY", "YOUR_ACTUAL_ALPACA_SECRET_KEY", "", "  ", None,
                                   "<api key>", "changeme"])
def test_placeholders_count_as_not_set(value):
    assert is_placeholder(value)
    secret = Secret(value)
    assert not secret.is_set
    with pytest.raises(ValueError, match="not set"):
        secret.reveal()


def test_real_values_are_not_placeholders():
    assert not is_placeholder("PKTEST1234567890")


def test_registered_values_are_masked_in_any_text():
    Secret(CANARY)
    text = f"GET /api/v3/order?signature=abc&key={CANARY} failed"
    assert CANARY not in mask(text)
    assert REDACTED in mask(text)


def test_numeric_secrets_match_whole_numbers_only():
    from orch.secret import contains_secret

    Secret("48213", source="pin")
    assert mask("pin 48213 given") == f"pin {REDACTED} given"
    assert mask("order 9948213001 filled") == "order 9948213001 filled"
    # A short numeric secret equal to a quantity is masked in text but does not make a record unstorable.
    assert not contains_secret('{"qty": "48213"}')
    Secret("73920518", source="account")
    assert contains_secret('{"note": "73920518"}')
    assert CANARY in f"x{CANARY}x" and contains_secret(f"x{CANARY}x") is (Secret(CANARY).is_set)
