# The secret-canary guard runs with the whole suite: see orch.testing.canary_guard and docs/secrets.md.
from orch.testing.canary import register_canary

pytest_plugins = ["orch.testing.canary_guard"]

# Besides the simulators' credentials (found by the guard itself), the credentials the suite's own fixtures
# hand to brokers: a leak of these fails a test as well.
for _label, _value in {
    "plugins/alpaca/tests fixture api_key": "PKCANARYKEY0123456789",
    "plugins/alpaca/tests fixture secret_key": "canary-secret-3f9a1c7e5b2d",
    "tests/_cli_kit.py SECRET": "mk-very-secret-4242",
}.items():
    register_canary(_label, _value)
