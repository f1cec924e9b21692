"""Formatting metric dictionaries as small tables (numbers as text, so they read the
same in every renderer and in a browser's DOM)."""

from __future__ import annotations

from typing import Any

import pandas as pd

# the backtest report's formatter: the same number reads the same in both places
from stockformer.backtest.formatting import flat_settings as flat_settings
from stockformer.backtest.formatting import fmt

SUMMARY_KEYS = (
    "total_return", "annualized_return", "annualized_return_arithmetic", "annualized_volatility",
    "sharpe", "sortino", "calmar", "max_drawdown", "information_ratio", "excess_annualized_return",
    "alpha", "beta", "turnover", "cost_paid", "win_rate",
)
SIGNAL_KEYS = (
    "ic", "rank_ic", "icir", "rank_icir", "ic_tstat", "rank_ic_tstat", "accuracy",
    "majority_rate", "majority_class", "mae", "rmse",
    "topk_hit_rate", "long_short_spread", "days",
)


def metrics_table(columns: dict[str, dict[str, Any]], keys: tuple[str, ...]) -> pd.DataFrame:
    """Rows = metric keys, one column per source (run name, split...)."""
    data = {name: [fmt(k, (src or {}).get(k)) for k in keys] for name, src in columns.items()}
    return pd.DataFrame(data, index=list(keys))

