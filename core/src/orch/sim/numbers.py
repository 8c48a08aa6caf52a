"""Decimal helpers shared by the simulation kit."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

__all__ = ["floor_to_step", "tidy"]


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation: ``10.500`` → ``10.5``, ``1E+1`` → ``10``.
    Simulators print what the engine computes; a JSON client would choke on ``1E+1``."""
    normalized = value.normalize()
    if normalized.as_tuple().exponent > 0:  # type: ignore[operator]
        return normalized.quantize(Decimal(1))
    return normalized


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` not above ``value`` (for positive values)."""
    return ((value / step).to_integral_value(rounding=ROUND_DOWN) * step).quantize(step) if step < 1 \
        else (value / step).to_integral_value(rounding=ROUND_DOWN) * step
