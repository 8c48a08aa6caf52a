"""Base classes for broker settings.

Every plugin declares an attrs ``Settings`` class deriving from :class:`BrokerSettings`; its config
section (JSON as in the broker guide, or TOML) is structured into it, so the plugin's own types validate
it. The blocks shared by several brokers in the guide (``rate_limits``, ``trading_settings``,
``order_types``, ``features``) are defined here once so the core can enforce them the same way for all.
Fields are keyword-only: subclasses add their own fields freely.
"""

from __future__ import annotations

from decimal import Decimal

from attrs import field, frozen

from orch.models import Market
from orch.secret import Secret


@frozen(kw_only=True)
class RateLimitSettings:
    requests_per_minute: int | None = None
    burst_limit: int | None = None
    cool_down_seconds: Decimal | None = None
    orders_per_second: int | None = None
    weight_per_minute: int | None = None


@frozen(kw_only=True)
class TradingSettings:
    default_order_type: str | None = None
    default_time_in_force: str | None = None
    fractional_shares: bool | None = None
    min_order_size: Decimal | None = None
    max_order_size: Decimal | None = None
    min_notional: Decimal | None = None
    max_notional: Decimal | None = None
    default_lmqty: Decimal | None = None


@frozen(kw_only=True)
class Toggle:
    enabled: bool = True


@frozen(kw_only=True)
class FeatureSettings:
    """``None`` means "as the broker allows"; ``False`` is enforced by orch before anything is sent."""

    short_selling: bool | None = None
    margin_trading: bool | None = None
    after_hours_trading: bool | None = None
    pre_market_trading: bool | None = None


@frozen(kw_only=True)
class BrokerSettings:
    """Settings every broker section may carry. ``markets`` feeds routing; ``acknowledge_unofficial`` is
    required (with ``enabled``) before an unofficial plugin loads."""

    enabled: bool = False
    acknowledge_unofficial: bool = False
    markets: tuple[Market, ...] = ()
    rate_limits: RateLimitSettings = field(factory=RateLimitSettings)
    trading_settings: TradingSettings = field(factory=TradingSettings)
    order_types: dict[str, Toggle] = field(factory=dict, hash=False)
    features: FeatureSettings = field(factory=FeatureSettings)
    timeout_seconds: Decimal = Decimal(30)


def unset_secrets(settings: BrokerSettings) -> list[str]:
    """Names of Secret fields that hold no usable value (missing or a placeholder such as YOUR_API_KEY)."""
    import attrs

    return [a.name for a in attrs.fields(type(settings))
            if isinstance(getattr(settings, a.name), Secret) and not getattr(settings, a.name).is_set]
