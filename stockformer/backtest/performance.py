"""Portfolio metrics from a daily equity curve (and a benchmark curve on the same days).

Annualisation uses `days_per_year` trading days, decided once per backtest
(backtest/annualization.py: 238 for A-shares, qlib's convention; 252 for US markets). Two
annualised returns: compounded ((1 + total) ** (days_per_year / days) - 1) and qlib's arithmetic
mean daily x days_per_year. max_drawdown is a negative fraction (qlib's sign).
Sortino, Calmar, alpha and beta come from empyrical (empyrical-reloaded), without a risk-free
rate: Sortino = mean daily x days / (root mean square of the negative days x sqrt(days));
Calmar = compounded annual return / |max drawdown|; beta = cov(r, b) / var(b);
alpha = (1 + mean(r - beta b)) ** days - 1.
"""

from __future__ import annotations

import warnings

import numpy as np


def daily_returns(curve: np.ndarray) -> np.ndarray:
    return curve[1:] / curve[:-1] - 1.0


def drawdown_curve(curve: np.ndarray) -> np.ndarray:
    """Fraction below the running peak each day (0 at a new high, negative below it)."""
    return curve / np.maximum.accumulate(curve) - 1.0


def max_drawdown(curve: np.ndarray) -> float:
    return float(drawdown_curve(curve).min())


def sharpe(r: np.ndarray, days_per_year: int) -> float:
    """Annualised mean / std (ddof 1) of daily returns, no risk-free rate; NaN when undefined."""
    if len(r) < 2:
        return float("nan")
    std = float(r.std(ddof=1))
    if not (std > 0 and np.isfinite(std)):
        return float("nan")
    return float(r.mean() / std * np.sqrt(days_per_year))


def _finite(x) -> float:
    x = float(x)
    return x if np.isfinite(x) else float("nan")


def risk_ratios(r: np.ndarray, rb: np.ndarray, days_per_year: int) -> dict[str, float]:
    """Sortino, Calmar, alpha and beta to the benchmark (definitions in the module docstring)."""
    if len(r) < 2:
        return {k: float("nan") for k in ("sortino", "calmar", "alpha", "beta")}
    import empyrical

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a flat series: NaN is the answer
        alpha, beta = empyrical.alpha_beta(r, rb, risk_free=0.0, annualization=days_per_year)
        return {
            "sortino": _finite(empyrical.sortino_ratio(r, annualization=days_per_year)),
            "calmar": _finite(empyrical.calmar_ratio(r, annualization=days_per_year)),
            "alpha": _finite(alpha),
            "beta": _finite(beta),
        }


def portfolio_metrics(
    equity: np.ndarray,
    benchmark: np.ndarray,
    traded_value: np.ndarray,
    value_before: np.ndarray,
    cost_paid: float,
    initial_cash: float,
    days_per_year: int,
) -> dict[str, float]:
    """equity / benchmark: curves normalised to 1.0 on the first day; traded_value: buy + sell
    value per day; value_before: portfolio value before that day's trades."""
    r = daily_returns(equity)
    rb = daily_returns(benchmark)
    n = len(r)
    total = float(equity[-1] / equity[0] - 1.0)
    std = float(r.std(ddof=1)) if n > 1 else float("nan")
    excess = r - rb
    with np.errstate(invalid="ignore", divide="ignore"):
        turnover = np.where(value_before > 0, traded_value / (2.0 * value_before), 0.0)
    mean = float(r.mean()) if n else float("nan")
    return {
        "days": n,
        "total_return": total,
        "annualized_return": float((1.0 + total) ** (days_per_year / n) - 1.0) if n else float("nan"),
        "annualized_return_arithmetic": mean * days_per_year,
        "annualized_volatility": float(std * np.sqrt(days_per_year)),
        "sharpe": sharpe(r, days_per_year),
        **risk_ratios(r, rb, days_per_year),
        "max_drawdown": max_drawdown(equity),
        "benchmark_total_return": float(benchmark[-1] / benchmark[0] - 1.0),
        "benchmark_annualized_return_arithmetic": float(rb.mean() * days_per_year) if n else float("nan"),
        "excess_annualized_return": float(excess.mean() * days_per_year) if n else float("nan"),
        "information_ratio": sharpe(excess, days_per_year),
        "turnover": float(turnover[1:].mean()) if n else 0.0,  # one-way, per day
        "cost_paid": float(cost_paid),
        "cost_paid_ratio": float(cost_paid / initial_cash),
        "win_rate": float((r > 0).mean()) if n else float("nan"),
    }
