"""Formatting metric dictionaries as small tables (numbers as text, so they read the
same in every renderer and in a browser's DOM)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

PERCENT_KEYS = {
    "total_return", "annualized_return", "annualized_return_arithmetic", "annualized_volatility",
    "max_drawdown", "excess_annualized_return", "turnover", "win_rate", "accuracy",
    "majority_rate", "topk_hit_rate",
}
SUMMARY_KEYS = (
    "total_return", "annualized_return", "annualized_return_arithmetic", "annualized_volatility",
    "sharpe", "max_drawdown", "information_ratio", "excess_annualized_return", "turnover",
    "cost_paid", "win_rate",
)
SIGNAL_KEYS = (
    "ic", "rank_ic", "icir", "rank_icir", "ic_tstat", "rank_ic_tstat", "accuracy",
    "majority_rate", "majority_class", "mae", "rmse",
    "topk_hit_rate", "long_short_spread", "days",
)


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
        if key == "cost_paid":
            return f"{value:,.0f}"
        return f"{value:.4f}"
    return str(value)


def metrics_table(columns: dict[str, dict[str, Any]], keys: tuple[str, ...]) -> pd.DataFrame:
    """Rows = metric keys, one column per source (run name, split...)."""
    data = {name: [fmt(k, (src or {}).get(k)) for k in keys] for name, src in columns.items()}
    return pd.DataFrame(data, index=list(keys))


def flat_settings(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested settings (dicts) as dotted key -> text, for a two-column table."""
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flat_settings(v, f"{prefix}{k}."))
    else:
        out[prefix.rstrip(".")] = "" if obj is None else str(obj)
    return out
