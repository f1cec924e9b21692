"""Portfolio metrics from a daily equity curve (and a benchmark curve on the same days).

Annualisation uses 238 trading days (qlib's convention for China A-shares). Two annualised
returns: compounded ((1 + total) ** (238 / days) - 1) and qlib's arithmetic mean daily x 238.
max_drawdown is a negative fraction (qlib's sign).
"""

from __future__ import annotations

import numpy as np

DAYS_PER_YEAR = 238


def _ratio(mean: float, std: float) -> float:
    return float(mean / std * np.sqrt(DAYS_PER_YEAR)) if std > 0 and np.isfinite(std) else float("nan")


def daily_returns(curve: np.ndarray) -> np.ndarray:
    return curve[1:] / curve[:-1] - 1.0


def max_drawdown(curve: np.ndarray) -> float:
    return float((curve / np.maximum.accumulate(curve) - 1.0).min())


def portfolio_metrics(
    equity: np.ndarray,
    benchmark: np.ndarray,
    traded_value: np.ndarray,
    value_before: np.ndarray,
    cost_paid: float,
    initial_cash: float,
) -> dict[str, float]:
    """equity / benchmark: curves normalised to 1.0 on the first day; traded_value: buy + sell
    value per day; value_before: portfolio value before that day's trades."""
    r = daily_returns(equity)
    rb = daily_returns(benchmark)
    n = len(r)
    total = float(equity[-1] / equity[0] - 1.0)
    std = float(r.std(ddof=1)) if n > 1 else float("nan")
    excess = r - rb
    ex_std = float(excess.std(ddof=1)) if n > 1 else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        turnover = np.where(value_before > 0, traded_value / (2.0 * value_before), 0.0)
    return {
        "days": n,
        "total_return": total,
        "annualized_return": float((1.0 + total) ** (DAYS_PER_YEAR / n) - 1.0) if n else float("nan"),
        "annualized_return_arithmetic": float(r.mean() * DAYS_PER_YEAR) if n else float("nan"),
        "annualized_volatility": float(std * np.sqrt(DAYS_PER_YEAR)),
        "sharpe": _ratio(float(r.mean()) if n else float("nan"), std),
        "max_drawdown": max_drawdown(equity),
        "benchmark_total_return": float(benchmark[-1] / benchmark[0] - 1.0),
        "benchmark_annualized_return_arithmetic": float(rb.mean() * DAYS_PER_YEAR) if n else float("nan"),
        "excess_annualized_return": float(excess.mean() * DAYS_PER_YEAR) if n else float("nan"),
        "information_ratio": _ratio(float(excess.mean()) if n else float("nan"), ex_std),
        "turnover": float(turnover[1:].mean()) if n else 0.0,  # one-way, per day
        "cost_paid": float(cost_paid),
        "cost_paid_ratio": float(cost_paid / initial_cash),
        "win_rate": float((r > 0).mean()) if n else float("nan"),
    }
