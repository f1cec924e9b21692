"""Re-run the backtest of a run with other top-k / n_drop / costs from the sidebar,
using the project's backtester on the stored predictions (no retraining)."""

from __future__ import annotations

import streamlit as st

from stockformer.config import BacktestConfig, CostConfig
from stockformer.dashboard import charts, loaders
from stockformer.dashboard.format import SUMMARY_KEYS, metrics_table
from stockformer.errors import StockformerError
from stockformer.rundir import RunInfo

PRESETS = ["cn_a_share", "us", "none", "custom"]


def sidebar_settings(run: RunInfo) -> BacktestConfig:
    """Sidebar controls, starting from the run's own backtest settings."""
    base = run.config.backtest
    bar = st.sidebar
    bar.subheader("Re-run settings")
    topk = int(bar.number_input("topk", 1, 500, base.topk, key="rerun_topk"))
    n_drop = int(bar.number_input("n_drop", 0, 500, min(base.n_drop, topk), key="rerun_n_drop"))
    fill = bar.selectbox("fill price (day t+1)", ["close", "open"], ["close", "open"].index(base.fill_price), key="rerun_fill")
    preset = bar.selectbox("cost preset", PRESETS, PRESETS.index(base.costs.preset), key="rerun_preset")
    costs = {"preset": preset}
    if bar.checkbox("override costs", value=False, key="rerun_override"):
        costs["buy_commission"] = bar.number_input("buy commission (fraction)", 0.0, 0.05, base.costs.buy_commission or 0.0003, format="%.5f", key="rerun_buy")
        costs["sell_commission"] = bar.number_input("sell commission (fraction)", 0.0, 0.05, base.costs.sell_commission or 0.0003, format="%.5f", key="rerun_sell")
        costs["stamp_duty"] = bar.number_input("stamp duty on sells (fraction)", 0.0, 0.05, base.costs.stamp_duty or 0.0005, format="%.5f", key="rerun_stamp")
        costs["slippage_bps"] = bar.number_input("slippage (bps)", 0.0, 200.0, base.costs.slippage_bps or 0.0, key="rerun_slip")
    return base.model_copy(
        update={"topk": topk, "n_drop": min(n_drop, topk), "fill_price": fill, "costs": CostConfig(**costs)}
    )


def render(run: RunInfo) -> None:
    st.header("Re-run backtest")
    st.subheader(f"Run {run.name}")
    cfg = sidebar_settings(run)
    try:
        result = loaders.rerun(run, cfg)
    except StockformerError as err:
        st.error(str(err))
        return
    st.caption(
        f"topk {cfg.topk}, n_drop {cfg.n_drop}, fill at t+1 {cfg.fill_price}, costs {cfg.costs.preset}"
    )
    st.table(metrics_table({"re-run": result["summary"], "stored": run.summary or {}}, SUMMARY_KEYS))
    st.plotly_chart(charts.equity_figure(result["equity"], "Re-run equity vs benchmark"), key="rerun_equity")
    st.download_button(
        "Download re-run trades (CSV)", result["trades"].write_csv(),
        file_name=f"{run.name}_rerun_trades.csv", mime="text/csv", key="rerun_csv",
    )
