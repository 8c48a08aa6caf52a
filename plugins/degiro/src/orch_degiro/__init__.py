"""orch's DEGIRO plugin (UNOFFICIAL): DEGIRO's private web-trader API, opt-in only."""
