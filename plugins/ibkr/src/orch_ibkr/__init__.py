"""orch broker plugin for Interactive Brokers (TWS / IB Gateway socket API)."""
