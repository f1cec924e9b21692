"""Performance: equity vs benchmark, excess, drawdown, monthly returns, rolling Sharpe,
the summary metrics table and the settings the backtest ran with."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from stockformer.backtest import annualization
from stockformer.dashboard import analytics, charts, loaders
from stockformer.dashboard.format import SUMMARY_KEYS, flat_settings, metrics_table
from stockformer.errors import StockformerError
from stockformer.rundir import RunInfo, run_warnings


def render(selected: list[RunInfo]) -> None:
    st.header("Performance")
    if len(selected) > 1:
        _compare(selected)
    run = selected[0]
    st.subheader(f"Run {run.name}")
    for line in run_warnings(run):
        st.warning(line)
    try:
        equity = loaders.artifact(run, "backtest/equity.parquet")
    except StockformerError as err:
        st.error(f"Run {run.name}: {err}")
        return
    show_equity(run.name, equity, run.summary or {})
    st.subheader("Settings")
    settings = (run.summary or {}).get("settings") or run.config.backtest.model_dump(mode="json")
    flat = flat_settings(settings)
    preset = flat.get("costs.preset", flat.get("preset", ""))
    st.markdown(f"**cost preset** `{preset}` | **strategy** `{flat.get('strategy', '')}`")
    st.table(pd.DataFrame({"setting": list(flat), "value": list(flat.values())}))


def show_equity(name: str, equity, summary: dict, key: str = "perf") -> None:
    """Equity chart, summary table, drawdown, monthly heatmap and rolling Sharpe."""
    st.plotly_chart(charts.equity_figure(equity), key=f"{key}_equity")
    st.table(metrics_table({name: summary}, SUMMARY_KEYS))
    if note := annualization.caveat(summary):
        st.warning(note)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.drawdown_figure(analytics.drawdown(equity)), key=f"{key}_dd")
    with right:
        # a short backtest still gets a curve: default to half its length, at least 20 days
        default = max(20, min(63, equity.height // 2))
        window = st.slider("Rolling Sharpe window (days)", 20, 252, default, key=f"{key}_window")
        # annualised with the run's own days per year (238 A-shares, 252 US), as its summary
        sharpe = analytics.rolling_sharpe(equity, window,
                                          days_per_year=annualization.days_per_year(summary))
        st.plotly_chart(charts.line_figure(sharpe, "rolling_sharpe", "Rolling Sharpe"),
                        key=f"{key}_sharpe")
    st.plotly_chart(charts.monthly_heatmap(analytics.monthly_returns(equity)), key=f"{key}_monthly")


def _compare(selected: list[RunInfo]) -> None:
    st.subheader("Comparison")
    curves = {}
    for run in selected:
        try:
            curves[run.name] = loaders.artifact(run, "backtest/equity.parquet")
        except StockformerError as err:
            st.error(f"Run {run.name}: {err}")
    if curves:
        st.plotly_chart(charts.compare_equity_figure(curves), key="compare_equity")
    st.table(metrics_table({r.name: r.summary or {} for r in selected}, SUMMARY_KEYS))
