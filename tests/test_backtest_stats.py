"""Extended portfolio statistics against hand-computed values, the per-year table, and the one
definition of drawdown / monthly returns shared by the report and the dashboard."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from stockformer.backtest import periods, report
from stockformer.backtest.performance import drawdown_curve, portfolio_metrics
from stockformer.dashboard import analytics

R = np.array([0.01, -0.02, 0.015, -0.005, 0.02, -0.01])
RB = np.array([0.005, -0.01, 0.01, 0.0, 0.01, -0.015])


def _curve(r: np.ndarray) -> np.ndarray:
    return np.concatenate([[1.0], np.cumprod(1.0 + r)])


def _metrics(days_per_year: int) -> dict:
    eq, bench = _curve(R), _curve(RB)
    zeros = np.zeros(len(eq))
    return portfolio_metrics(eq, bench, zeros, np.ones(len(eq)), 0.0, 1.0, days_per_year)


def test_sortino_calmar_alpha_beta_by_hand():
    d = 252
    m = _metrics(d)
    n = len(R)
    # Sortino: annualised mean over the annualised root mean square of the losing days
    downside = np.sqrt(np.mean(np.minimum(R, 0.0) ** 2)) * np.sqrt(d)
    assert m["sortino"] == pytest.approx(R.mean() * d / downside, rel=1e-10)
    # Calmar: compounded annual return over the worst peak-to-trough fall
    curve = _curve(R)
    worst = min(curve[j] / max(curve[: j + 1]) - 1.0 for j in range(n + 1))
    annual = np.prod(1.0 + R) ** (d / n) - 1.0
    assert m["calmar"] == pytest.approx(annual / abs(worst), rel=1e-10)
    # beta from sums, alpha from the residual mean, annualised by compounding
    cov = np.sum((R - R.mean()) * (RB - RB.mean())) / n
    var = np.sum((RB - RB.mean()) ** 2) / n
    beta = cov / var
    assert m["beta"] == pytest.approx(beta, rel=1e-10)
    assert m["alpha"] == pytest.approx((1.0 + np.mean(R - beta * RB)) ** d - 1.0, rel=1e-10)
    # the other ratios follow the same days per year
    assert m["sharpe"] == pytest.approx(R.mean() / R.std(ddof=1) * np.sqrt(d), rel=1e-10)


def test_days_per_year_changes_every_annualised_figure():
    a, b = _metrics(238), _metrics(252)
    for key in ("annualized_return", "annualized_volatility", "sharpe", "sortino", "calmar",
                "alpha", "information_ratio", "excess_annualized_return"):
        assert a[key] != pytest.approx(b[key]), key
    assert b["annualized_volatility"] == pytest.approx(R.std(ddof=1) * np.sqrt(252))


def test_flat_or_tiny_series_give_nan_not_errors():
    flat = np.ones(5)
    m = portfolio_metrics(flat, flat, np.zeros(5), np.ones(5), 0.0, 1.0, 238)
    assert np.isnan(m["sortino"]) and np.isnan(m["calmar"]) and np.isnan(m["beta"])
    one = portfolio_metrics(np.ones(1), np.ones(1), np.zeros(1), np.ones(1), 0.0, 1.0, 238)
    assert np.isnan(one["sortino"]) and one["days"] == 0


def test_yearly_table_compounds_from_the_previous_year_end():
    eq = pl.DataFrame({
        "date": [dt.date(2022, 12, 29), dt.date(2022, 12, 30), dt.date(2023, 1, 3), dt.date(2023, 1, 4)],
        "strategy": [1.0, 1.1, 0.99, 1.089],
        "benchmark": [1.0, 1.0, 1.0, 1.05],
    })
    t = periods.yearly_table(eq, 252)
    assert t["year"].to_list() == [2022, 2023] and t["days"].to_list() == [1, 2]
    assert t["return"].to_list() == pytest.approx([0.1, -0.01])
    assert t["benchmark_return"].to_list() == pytest.approx([0.0, 0.05])
    assert t["excess_return"].to_list() == pytest.approx([0.1, -0.06])
    assert t["max_drawdown"].to_list() == pytest.approx([0.0, -0.1])
    r23 = np.array([0.99 / 1.1 - 1, 1.089 / 0.99 - 1])
    assert t["sharpe"][1] == pytest.approx(r23.mean() / r23.std(ddof=1) * np.sqrt(252))


def test_drawdown_and_monthly_returns_have_one_definition():
    # the dashboard plots the backtest's own functions, the report keeps no copy of its own
    assert analytics.monthly_returns is periods.monthly_returns
    assert report.monthly_returns is periods.monthly_returns and not hasattr(report, "_drawdown")
    eq = pl.DataFrame({"date": pl.date_range(dt.date(2023, 1, 2), dt.date(2023, 1, 6), eager=True),
                       "strategy": [1.0, 1.2, 0.9, 1.3, 1.04]})
    curve = eq["strategy"].to_numpy()
    np.testing.assert_allclose(analytics.drawdown(eq)["drawdown"].to_numpy(), drawdown_curve(curve))
    np.testing.assert_allclose(drawdown_curve(curve), [0, 0, -0.25, 0, -0.2])


def test_monthly_returns_empty_frame():
    empty = pl.DataFrame(schema={"date": pl.Date, "strategy": pl.Float64})
    assert periods.monthly_returns(empty).height == 0
