"""Holdings and trades: positions on a chosen day, turnover over time, trades with costs
(downloadable as CSV)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from stockformer.dashboard import analytics, charts, loaders
from stockformer.dashboard.tables import for_display
from stockformer.errors import StockformerError
from stockformer.rundir import RunInfo


def render(run: RunInfo) -> None:
    st.header("Holdings and trades")
    st.subheader(f"Run {run.name}")
    try:
        positions = loaders.artifact(run, "backtest/positions.parquet")
        trades = loaders.artifact(run, "backtest/trades.parquet")
    except StockformerError as err:
        st.error(f"Run {run.name}: {err}")
        return
    days = positions["date"].unique().sort().to_list()
    if days:
        day = st.select_slider("Day", options=days, value=days[-1], key="holdings_day")
        held = positions.filter(pl.col("date") == day).sort("weight", descending=True)
        st.markdown(f"**{held.height} positions on {day}**, gross value {held['value'].sum():,.0f}")
        st.dataframe(for_display(held), hide_index=True, width="stretch")
        st.plotly_chart(
            charts.line_figure(analytics.turnover(positions), "turnover", "Turnover (one-way, per day)"),
            key="holdings_turnover",
        )
    else:
        st.info("The backtest holds no positions.")
    st.subheader("Trades")
    only_day = bool(days) and st.toggle("Only the chosen day", value=False, key="trades_only_day")
    shown = trades.filter(pl.col("date") == day) if only_day else trades
    costs = shown.select(pl.sum("commission"), pl.sum("stamp_duty"), pl.sum("slippage")).row(0)
    st.markdown(
        f"**{shown.height} trades**, commission {costs[0]:,.0f}, stamp duty {costs[1]:,.0f}, "
        f"slippage {costs[2]:,.0f}"
    )
    st.dataframe(for_display(shown), hide_index=True, width="stretch")
    st.download_button(
        "Download trades (CSV)",
        data=shown.write_csv(),
        file_name=f"{run.name}_trades.csv",
        mime="text/csv",
        key="trades_csv",
    )
