"""Metric values and settings as text: one formatter for report.html and the dashboard, so a
number reads the same wherever it is shown."""

from __future__ import annotations

import math
from typing import Any

PERCENT_KEYS = {
    "total_return", "annualized_return", "annualized_return_arithmetic", "annualized_volatility",
    "max_drawdown", "excess_annualized_return", "turnover", "win_rate", "accuracy",
    "majority_rate", "topk_hit_rate", "benchmark_total_return",
    "benchmark_annualized_return_arithmetic", "cost_paid_ratio", "alpha",
    # per-year table columns
    "return", "benchmark_return", "excess_return",
}
_MONEY_KEYS = {"cost_paid", "initial_cash"}


def fmt(key: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if key in PERCENT_KEYS:
            return f"{value:.2%}"
        if key in _MONEY_KEYS:
            return f"{value:,.0f}"
        return f"{value:.4f}"
    return str(value)


def setting_text(key: str, value: Any) -> str:
    """A configuration value as typed (0.001 stays 0.001), whole amounts with separators."""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:g}"
    return fmt(key, value)


def flat_settings(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested settings (dicts) as dotted key -> text, for a two-column table."""
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flat_settings(v, f"{prefix}{k}."))
    else:
        key = prefix.rstrip(".")
        out[key] = setting_text(key.rsplit(".", 1)[-1], obj)
    return out


def benchmark_label(settings: dict[str, Any]) -> str:
    """What the benchmark curve is, in words (an index file or the equal-weight universe)."""
    if settings.get("benchmark_source") == "index":
        name = str(settings.get("benchmark") or "").replace("\\", "/").rsplit("/", 1)[-1]
        return f"index {name}".strip()
    stocks = settings.get("stocks")
    return f"equal-weight universe ({stocks:,} stocks)" if isinstance(stocks, int) else "equal-weight universe"
