"""Dashboard, issue 15 item 15: days shown without a time, the excess return on its own axis,
and a per-stock drilldown (price with the strategy's entries and exits, the stock's score)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from backtest_helpers import backtest_panel, random_predictions
from dashboard_fixtures import write_run
from streamlit.testing.v1 import AppTest

from stockformer.backtest.engine import run_backtest
from stockformer.config import BacktestConfig
from stockformer.dashboard import charts, drilldown
from stockformer.dashboard.tables import for_display

APP = str(Path(__file__).resolve().parents[1] / "app.py")
D = [date(2024, 1, 1) + timedelta(days=i) for i in range(8)]


def ledger(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["date", "symbol", "side", "shares", "price"], orient="row")


def held(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["date", "symbol", "shares"], orient="row")


def test_trade_marks_tell_entries_exits_and_resizes():
    trades = ledger([
        (D[1], "A", "buy", 100.0, 10.0), (D[1], "B", "buy", 5.0, 3.0), (D[2], "A", "buy", 50.0, 11.0),
        (D[3], "A", "sell", 30.0, 12.0), (D[4], "A", "sell", 120.0, 9.0), (D[6], "A", "buy", 80.0, 8.0),
    ])
    positions = held([(D[1], "A", 100.0), (D[1], "B", 5.0), (D[2], "A", 150.0), (D[3], "A", 120.0),
                      (D[5], "B", 5.0), (D[6], "A", 80.0), (D[7], "A", 80.0)])
    marks = drilldown.trade_marks(trades, positions, "A")
    assert marks["kind"].to_list() == ["entry", "add", "trim", "exit", "entry"]
    assert marks["held"].to_list() == [100.0, 150.0, 120.0, 0.0, 80.0]
    assert marks["price"].to_list() == [10.0, 11.0, 12.0, 9.0, 8.0]
    assert drilldown.trade_marks(trades, positions, "C").height == 0


def test_trade_marks_agree_with_the_holdings_of_a_real_backtest():
    panel = backtest_panel(days=80, stocks=12, seed=3)
    result = run_backtest(random_predictions(panel, seed=4), panel, BacktestConfig(topk=3, n_drop=1))
    calendar = result.equity["date"].to_list()
    checked = 0
    for symbol in result.trades["symbol"].unique().to_list():
        marks = drilldown.trade_marks(result.trades, result.positions, symbol)
        kinds = marks["kind"].to_list()
        held_days = set(result.positions.filter(pl.col("symbol") == symbol)["date"].to_list())
        # every time the stock starts being held (calendar day after a day without it) is an entry
        starts = sum(d in held_days and (i == 0 or calendar[i - 1] not in held_days)
                     for i, d in enumerate(calendar))
        assert kinds.count("entry") == starts
        assert all((h == 0) == (k == "exit") for h, k in zip(marks["held"], kinds, strict=True))
        for prev, kind in zip([None, *kinds], kinds, strict=False):
            assert (kind == "entry") == (prev in (None, "exit"))
        checked += kinds.count("exit")
    assert checked > 5  # the test saw real round trips


def test_score_history_ranks_the_stock_each_day():
    preds = pl.DataFrame({"date": [D[0]] * 3 + [D[1]] * 3, "symbol": ["A", "B", "C"] * 2,
                          "score": [0.3, 0.1, 0.2, -1.0, 0.5, float("nan")]})
    hist = drilldown.score_history(preds, "A")
    assert hist.rows() == [(D[0], 0.3, 1, 3), (D[1], -1.0, 2, 2)]  # a NaN score is not ranked


def test_symbols_most_traded_first():
    preds = pl.DataFrame({"date": [D[0]] * 3, "symbol": ["A", "B", "C"], "score": [1.0, 2.0, 3.0]})
    trades = ledger([(D[1], "C", "buy", 1.0, 1.0), (D[2], "C", "sell", 1.0, 1.0), (D[1], "B", "buy", 1.0, 1.0)])
    assert drilldown.symbols_by_activity(preds, trades) == ["C", "B", "A"]
    assert drilldown.symbols_by_activity(preds, None) == ["A", "B", "C"]


def test_tables_keep_days_as_days():
    frame = pl.DataFrame({"date": [D[0], None], "n": [1, 2]})
    shown = for_display(frame)
    assert shown["date"].tolist() == [D[0], None]
    assert "00:00:00" not in shown.to_string()


def test_excess_sits_on_its_own_axis_below_the_equity_curves():
    equity = pl.DataFrame({"date": D[:3], "strategy": [1.0, 1.2, 1.5], "benchmark": [1.0, 1.1, 1.2],
                           "excess": [0.0, 0.1, 0.3]})
    fig = charts.equity_figure(equity)
    axes = {t.name: t.yaxis for t in fig.data}
    assert axes["strategy"] == axes["benchmark"] == "y" and axes["excess"] == "y2"
    top, bottom = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    assert bottom[1] < top[0]  # a separate panel, not a second scale over the same area


def test_stock_figure_marks_trades_at_their_fill():
    trades = ledger([(D[1], "A", "buy", 10.0, 10.5), (D[3], "A", "sell", 10.0, 11.5)])
    marks = drilldown.trade_marks(trades, held([(D[1], "A", 10.0), (D[2], "A", 10.0)]), "A")
    price = pl.DataFrame({"date": D[:5], "close": [10.0, 10.4, 11.0, 11.6, 11.2]})
    scores = pl.DataFrame({"date": D[:4], "score": [0.5, 0.1, -0.2, 0.0], "rank": [1, 3, 5, 4],
                           "stocks": [5] * 4})
    fig = charts.stock_figure("A", price, marks, scores)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name) == ["price", "entry", "exit", "score"]
    assert list(by_name["entry"].x) == [D[1]] and list(by_name["entry"].y) == [10.5]
    assert list(by_name["exit"].x) == [D[3]] and list(by_name["exit"].y) == [11.5]
    assert by_name["score"].yaxis == "y2" and by_name["price"].yaxis == "y"


@pytest.fixture
def app(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    write_run(root, "demo")
    monkeypatch.setenv("STOCKFORMER_RUNS", str(root))
    monkeypatch.setenv("STOCKFORMER_PREDICTIONS", str(tmp_path / "predictions"))

    def open_page(page: str, query: dict | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params.update(query or {})
        at.run()
        at.sidebar.radio(key="page").set_value(page).run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        return at

    return open_page


def chart_traces(at: AppTest) -> dict[str, dict]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {t["name"]: t for t in spec["data"]}


def test_drilldown_page_shows_price_entries_exits_and_scores(app, tmp_path):
    at = app("Stock drilldown")
    box = at.selectbox(key="drill_symbol")
    first = box.value
    traces = chart_traces(at)
    assert {"price", "entry", "exit", "score"} <= set(traces)
    trades = pl.read_parquet(tmp_path / "runs" / "demo" / "backtest" / "trades.parquet")
    buys = trades.filter((pl.col("symbol") == first) & (pl.col("side") == "buy"))
    assert set(traces["entry"]["x"]) <= {d.isoformat() for d in buys["date"].to_list()}
    assert f"**{first}**" in "\n".join(m.value for m in at.markdown)
    other = box.options[-1]
    box.set_value(other).run()
    assert f"**{other}**" in "\n".join(m.value for m in at.markdown)
    assert chart_traces(at)["score"]["y"] != traces["score"]["y"]


def test_drilldown_deep_link_opens_that_stock(app):
    at = app("Stock drilldown", {"stock": "S007"})
    assert at.selectbox(key="drill_symbol").value == "S007"


@pytest.mark.parametrize("page", ["Holdings & trades", "Stock drilldown"])
def test_tables_show_days_without_a_time(app, page):
    at = app(page)
    assert at.dataframe
    for table in at.dataframe:
        assert all(type(d) is date for d in table.value["date"])
