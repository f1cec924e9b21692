"""report.html: one title, settings and statistics as formatted tables, a per-year table, named
benchmark and axis titles; and the equal-weight benchmark is the model's own universe."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl
import pytest

from stockformer.backtest import run_backtest
from stockformer.backtest.report import build_html
from stockformer.config import BacktestConfig
from tests.backtest_helpers import backtest_panel, random_predictions


@pytest.fixture(scope="module")
def two_year_result():
    panel = backtest_panel(days=120, stocks=12, seed=2, limit_flags=None, start=dt.date(2022, 11, 1))
    return run_backtest(random_predictions(panel, 3), panel, BacktestConfig(topk=3, initial_cash=1e6))


def _cell(page: str, label: str) -> str:
    found = re.search(rf"<th scope='row'>{re.escape(label)}</th><td[^>]*>([^<]*)</td>", page)
    assert found, label
    return found.group(1)


def test_settings_are_a_table_not_a_dict(two_year_result):
    page = build_html(two_year_result)
    assert "{'strategy'" not in page and "&#x27;strategy&#x27;" not in page
    settings = page[page.index("<table class='settings'>"):]
    settings = settings[: settings.index("</table>")]
    assert _cell(settings, "strategy") == "topk_dropout"
    assert _cell(settings, "topk") == "3"
    assert _cell(settings, "initial_cash") == "1,000,000"  # thousands separators
    assert _cell(settings, "costs.preset") == "cn_a_share"
    assert _cell(settings, "costs.buy_commission") == "0.001"  # the resolved costs, as typed


def test_numbers_are_formatted(two_year_result):
    s = two_year_result.summary
    page = build_html(two_year_result)
    assert _cell(page, "Total return") == f"{s['total_return']:.2%}"
    assert _cell(page, "Max drawdown") == f"{s['max_drawdown']:.2%}"
    assert _cell(page, "Costs paid") == f"{s['cost_paid']:,.0f}" and "," in _cell(page, "Costs paid")
    assert _cell(page, "Sharpe ratio") == f"{s['sharpe']:.4f}"


def test_extended_statistics_and_per_year_table(two_year_result):
    s = two_year_result.summary
    page = build_html(two_year_result)
    assert _cell(page, "Sortino ratio") == f"{s['sortino']:.4f}"
    assert _cell(page, "Calmar ratio") == f"{s['calmar']:.4f}"
    assert _cell(page, "Alpha to the benchmark (annualised)") == f"{s['alpha']:.2%}"
    assert _cell(page, "Beta to the benchmark") == f"{s['beta']:.4f}"
    yearly = page[page.index("<table class='yearly'>"):]
    yearly = yearly[: yearly.index("</table>")]
    rows = re.findall(r"<tr><td class='num'>(\d{4})</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", yearly)
    assert [y for y, _ in rows] == ["2022", "2023"]
    eq = two_year_result.equity
    end_2022 = eq.filter(pl.col("date").dt.year() == 2022)["strategy"][-1]
    ret_2023 = eq["strategy"][-1] / end_2022 - 1.0
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", rows[1][1])
    assert cells[1] == f"{ret_2023:.2%}"  # days, return, benchmark, excess, sharpe, max drawdown


def test_one_title_axis_titles_and_named_benchmark(two_year_result):
    page = build_html(two_year_result)
    assert page.count("<h1>") == 1
    assert page.count("Backtest report") == 2  # <title> and <h1>; no second title in the chart
    for axis in ("value (start = 1.0)", "drawdown", "score quintile (Q5 = highest)", "signal date"):
        assert f'"text":"{axis}"' in page, axis
    assert "benchmark: equal-weight universe (12 stocks)" in page


def test_benchmark_is_the_models_universe():
    """A 50-stock run on an 88-stock panel is measured against the mean of its own 50."""
    panel = backtest_panel(days=30, stocks=88, seed=7, limit_flags=None)
    scored = sorted(panel["symbol"].unique().to_list())[:50]
    preds = random_predictions(panel, 1).filter(pl.col("symbol").is_in(scored))
    res = run_backtest(preds, panel, BacktestConfig(topk=5))
    wide = panel.pivot(on="symbol", index="date", values="close").sort("date")
    close = wide.select(scored).to_numpy().astype(float)
    rows = np.isin(wide["date"].to_numpy(), res.equity["date"].to_numpy())
    close = close[rows]
    with np.errstate(invalid="ignore"):
        r = close[1:] / close[:-1] - 1.0
    daily = np.array([np.nanmean(x) if np.isfinite(x).any() else 0.0 for x in r])
    want = np.concatenate([[1.0], np.cumprod(1.0 + daily)])
    np.testing.assert_allclose(res.equity["benchmark"].to_numpy(), want, rtol=1e-12)
    assert (res.summary["settings"]["stocks"], res.summary["settings"]["panel_stocks"]) == (50, 88)
    assert "equal-weight universe (50 stocks)" in build_html(res)
