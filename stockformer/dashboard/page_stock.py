"""Stock drilldown: one stock's price with the strategy's entries and exits, its score
history, and its trades. ?stock=<symbol> opens it on that stock."""

from __future__ import annotations

import polars as pl
import streamlit as st

from stockformer.dashboard import charts, drilldown, loaders
from stockformer.dashboard.tables import for_display
from stockformer.errors import StockformerError
from stockformer.rundir import RunInfo


def _ledger(run: RunInfo) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """The backtest's trades and positions (what was held tells an entry from an add)."""
    try:
        return (loaders.artifact(run, "backtest/trades.parquet"),
                loaders.artifact(run, "backtest/positions.parquet"))
    except StockformerError as err:
        st.info(f"No trades to mark ({err}); showing the scores alone.")
        return None


def _price(run: RunInfo, symbol: str, start, end) -> pl.DataFrame:
    try:
        panel = loaders.panel(run.config.data.path)
    except StockformerError as err:
        st.info(f"No price line ({err}); trades are marked at their fill prices.")
        return pl.DataFrame(schema={"date": pl.Date, "close": pl.Float64})
    return drilldown.price_history(panel, symbol, start, end)


def _choose(symbols: list[str]) -> str:
    wanted = st.query_params.get("stock")
    index = symbols.index(wanted) if wanted in symbols else 0  # default: the most traded
    return st.selectbox("Stock (most traded first)", symbols, index=index, key="drill_symbol")


def render(run: RunInfo) -> None:
    st.header("Stock drilldown")
    st.subheader(f"Run {run.name}")
    try:
        preds = loaders.artifact(run, "predictions.parquet")
    except StockformerError as err:
        st.error(f"Run {run.name}: {err}")
        return
    if preds.height == 0:
        st.info("The run's predictions are empty: no stock to show.")
        return
    ledger = _ledger(run)
    symbol = _choose(drilldown.symbols_by_activity(preds, ledger[0] if ledger else None))
    marks = drilldown.trade_marks(*ledger, symbol) if ledger else drilldown.NO_MARKS
    scores = drilldown.score_history(preds, symbol)
    end = max(preds["date"].max(), marks["date"].max() or preds["date"].max())
    price = _price(run, symbol, preds["date"].min(), end)
    kinds = marks["kind"].value_counts()
    count = dict(kinds.iter_rows()) if kinds.height else {}
    last = scores.tail(1).rows(named=True)
    rank = f"; last scored {last[0]['date']}: rank {last[0]['rank']} of {last[0]['stocks']}" if last else ""
    st.markdown(f"**{symbol}**: {count.get('entry', 0)} entries, {count.get('exit', 0)} exits, "
                f"{count.get('add', 0) + count.get('trim', 0)} resizes{rank}")
    st.plotly_chart(charts.stock_figure(symbol, price, marks, scores), key="drill_chart")
    if marks.height:
        st.dataframe(for_display(marks), hide_index=True, width="stretch")
