"""The shape of an orch configuration file (apart from the per-broker sections, which each plugin's own
``Settings`` class defines). Loading, environment secrets and validation live in :mod:`orch.config`.

Top-level keys: ``brokers`` (one section per broker, as in the broker guide), ``broker_routing``,
``broker_selection`` (both as in the guide's multi-broker chapter), ``risk``, ``journal``, ``logging``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from attrs import field, frozen

from orch.models import Market


@frozen(kw_only=True)
class BrokerRouting:
    """The guide's ``broker_routing`` block. ``fallback_broker`` is used when the chosen broker is
    unavailable (breaker open, cannot connect) and it serves the market."""

    default_broker: str | None = None
    crypto_broker: str | None = None
    forex_broker: str | None = None
    fallback_broker: str | None = None


@frozen(kw_only=True)
class BrokerProfile:
    """One entry of ``broker_selection.alphabetical`` (the guide's name for per-broker profiles)."""

    markets: tuple[Market, ...] = ()
    priority: int | None = None
    commission_free: bool | None = None
    liquidity: str | None = None
    institutional_features: bool | None = None


@frozen(kw_only=True)
class CostTiers:
    commission_free: tuple[str, ...] = ()
    low_cost: tuple[str, ...] = ()
    avoid_high_cost: tuple[str, ...] = ()


@frozen(kw_only=True)
class BrokerSelection:
    """The guide's ``broker_selection`` block: per-broker profiles with priorities, an explicit market map
    and cost tiers."""

    alphabetical: dict[str, BrokerProfile] = field(factory=dict, hash=False)
    by_market: dict[Market, str] = field(factory=dict, hash=False)
    by_cost: CostTiers = field(factory=CostTiers)


@frozen(kw_only=True)
class RiskSettings:
    """Pre-trade limits across brokers (per-broker ``trading_settings`` add their own). ``None`` = no limit.
    ``max_position_per_symbol`` is a quantity; notional limits are in the instrument's currency."""

    max_order_notional: Decimal | None = None
    max_position_per_symbol: Decimal | None = None
    max_open_orders: int | None = None
    max_orders_per_minute: int | None = None
    daily_loss_limit: Decimal | None = None
    enforce_market_hours: bool = True


@frozen(kw_only=True)
class JournalSettings:
    """``path`` defaults to ``$ORCH_HOME/journal.sqlite`` or the user state directory."""

    path: str | None = None


@frozen(kw_only=True)
class LoggingSettings:
    """The guide logs to ``logs/trading_orchestrator.log``; ``file = ""`` turns the file log off."""

    level: str = "INFO"
    file: str = "logs/trading_orchestrator.log"


@frozen(kw_only=True)
class OrchConfig:
    """A loaded configuration. ``brokers`` holds the sections of installed plugins, structured by each
    plugin's Settings class; ``uninstalled_brokers`` keeps the raw sections of brokers whose plugin is not
    installed (reported, not fatal). ``source`` is the file it came from (None for defaults)."""

    brokers: dict[str, Any] = field(factory=dict, hash=False)
    uninstalled_brokers: dict[str, dict] = field(factory=dict, hash=False)
    broker_routing: BrokerRouting = field(factory=BrokerRouting)
    broker_selection: BrokerSelection = field(factory=BrokerSelection)
    risk: RiskSettings = field(factory=RiskSettings)
    journal: JournalSettings = field(factory=JournalSettings)
    logging: LoggingSettings = field(factory=LoggingSettings)
    source: str | None = None
    warnings: tuple[str, ...] = ()
