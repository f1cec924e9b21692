"""The self-contained report: report.html (inline plotly JS, no CDN) and report.png (matplotlib)."""

from __future__ import annotations

import html
import io
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from stockformer.backtest.engine import BacktestResult

_HEADLINE = (
    "total_return", "annualized_return", "annualized_return_arithmetic", "annualized_volatility",
    "sharpe", "max_drawdown", "information_ratio", "excess_annualized_return", "turnover",
    "cost_paid", "win_rate",
)


def monthly_returns(equity: pl.DataFrame) -> pl.DataFrame:
    """Strategy return per calendar month: year, month, ret."""
    last = (
        equity.with_columns(pl.col("date").dt.year().alias("year"), pl.col("date").dt.month().alias("month"))
        .group_by("year", "month", maintain_order=True)
        .agg(pl.col("strategy").last().alias("end"))
    )
    prev = pl.concat([pl.Series([equity["strategy"][0]]), last["end"][:-1]])
    return last.with_columns((pl.col("end") / prev - 1.0).alias("ret")).select("year", "month", "ret")


def _drawdown(curve: np.ndarray) -> np.ndarray:
    return curve / np.maximum.accumulate(curve) - 1.0


def _warning_box(warnings: list[str] | None) -> str:
    """A visible box with the training run's warnings (e.g. a collapsed score); empty if none."""
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(str(w))}</li>" for w in warnings)
    return (
        "<div class='warning' style='border:2px solid #c60;background:#fff3e0;color:#7a3a00;"
        f"padding:0.6em 1em;margin:1em 0'><strong>Warning</strong><ul>{items}</ul></div>"
    )


def _accuracy_cell(pred: dict) -> str:
    from stockformer.train.metrics import accuracy_text

    return html.escape(accuracy_text(pred))


def build_html(result: BacktestResult, warnings: list[str] | None = None) -> str:
    """The report; `warnings` (the training run's metrics.json "warnings") show as a box on top."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    eq = result.equity
    dates = eq["date"].to_list()
    strat = eq["strategy"].to_numpy()
    fig = make_subplots(
        rows=3, cols=2, specs=[[{"colspan": 2}, None], [{}, {}], [{}, {}]],
        subplot_titles=("Equity vs benchmark", "Drawdown", "Monthly returns", "IC by day",
                        "Mean next-day return by score quintile"),
        vertical_spacing=0.09,
    )
    fig.add_trace(go.Scatter(x=dates, y=strat, name="strategy"), 1, 1)
    fig.add_trace(go.Scatter(x=dates, y=eq["benchmark"].to_numpy(), name="benchmark"), 1, 1)
    fig.add_trace(go.Scatter(x=dates, y=_drawdown(strat), name="drawdown", fill="tozeroy"), 2, 1)
    mr = monthly_returns(eq)
    labels = [f"{y}-{m:02d}" for y, m in zip(mr["year"], mr["month"], strict=True)]
    fig.add_trace(go.Bar(x=labels, y=mr["ret"].to_numpy(), name="monthly"), 2, 2)
    if result.daily.height:
        fig.add_trace(go.Bar(x=result.daily["date"].to_list(), y=result.daily["ic"].to_numpy(),
                             name="IC"), 3, 1)
    q = result.summary.get("prediction", {}).get("quantile_returns", [])
    fig.add_trace(go.Bar(x=[f"Q{i + 1}" for i in range(len(q))], y=q, name="quintile"), 3, 2)
    fig.update_layout(height=1100, showlegend=True, title="Backtest report")
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    rows = "".join(
        f"<tr><td>{k}</td><td>{_fmt(result.summary.get(k))}</td></tr>" for k in _HEADLINE
    )
    pred = result.summary.get("prediction", {})
    prow = "".join(
        f"<tr><td>{k}</td><td>{_accuracy_cell(pred) if k == 'accuracy' else _fmt(pred.get(k))}</td></tr>"
        for k in ("ic", "rank_ic", "icir", "rank_icir", "accuracy", "topk_hit_rate", "long_short_spread")
    )
    settings = html.escape(str({k: v for k, v in result.summary.get("settings", {}).items()
                                if k in ("strategy", "topk", "n_drop", "fill_price", "start", "end")}))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Backtest report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td{border:1px solid #ccc;padding:2px 8px}</style></head><body>"
        f"<h1>Backtest report</h1>{_warning_box(warnings)}<p>{settings}</p>"
        f"<h2>Portfolio</h2><table>{rows}</table><h2>Prediction</h2><table>{prow}</table>"
        f"{body}</body></html>"
    )


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4f}" if np.isfinite(x) else "n/a"
    return html.escape(str(x))


def build_png(result: BacktestResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eq = result.equity
    dates = eq["date"].to_list()
    strat = eq["strategy"].to_numpy()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    axes[0, 0].plot(dates, strat, label="strategy")
    axes[0, 0].plot(dates, eq["benchmark"].to_numpy(), label="benchmark")
    axes[0, 0].set_title("Equity")
    axes[0, 0].legend()
    axes[0, 1].fill_between(dates, _drawdown(strat), 0.0, color="tab:red", alpha=0.5)
    axes[0, 1].set_title("Drawdown")
    if result.daily.height:
        axes[1, 0].bar(result.daily["date"].to_list(), np.nan_to_num(result.daily["ic"].to_numpy()))
    axes[1, 0].set_title("IC by day")
    q = result.summary.get("prediction", {}).get("quantile_returns", [])
    axes[1, 1].bar([f"Q{i + 1}" for i in range(len(q))], np.nan_to_num(np.asarray(q, float)))
    axes[1, 1].set_title("Quintile returns")
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
