# The secret-canary guard runs with the whole suite: see orch.testing.canary_guard (and docs/secrets.md).
pytest_plugins = ["orch.testing.canary_guard"]
