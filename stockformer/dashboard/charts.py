"""Plotly figures for the pages (interactive: zoom, hover, range selection)."""

from __future__ import annotations

import calendar

import plotly.graph_objects as go
import polars as pl

_LAYOUT = dict(margin=dict(l=40, r=20, t=40, b=30), hovermode="x unified", height=360)


def _fig(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def equity_figure(equity: pl.DataFrame, title: str = "Equity vs benchmark") -> go.Figure:
    fig = _fig(title)
    dates = equity["date"].to_list()
    for col, name in (("strategy", "strategy"), ("benchmark", "benchmark"), ("excess", "excess")):
        fig.add_trace(
            go.Scatter(
                x=dates, y=equity[col].to_list(), name=name, mode="lines",
                line=dict(dash="dot") if col == "excess" else None,
            )
        )
    fig.update_xaxes(rangeslider_visible=True)
    fig.update_yaxes(title="value (start = 1.0)")
    return fig


def compare_equity_figure(curves: dict[str, pl.DataFrame]) -> go.Figure:
    fig = _fig("Strategy equity, selected runs")
    for name, equity in curves.items():
        fig.add_trace(go.Scatter(x=equity["date"].to_list(), y=equity["strategy"].to_list(), name=name))
    return fig


def drawdown_figure(dd: pl.DataFrame) -> go.Figure:
    fig = _fig("Drawdown")
    fig.add_trace(go.Scatter(x=dd["date"].to_list(), y=dd["drawdown"].to_list(), fill="tozeroy", name="drawdown"))
    fig.update_yaxes(tickformat=".1%")
    return fig


def monthly_heatmap(monthly: pl.DataFrame) -> go.Figure:
    fig = _fig("Monthly returns")
    years = sorted(monthly["year"].unique().to_list())
    grid = [[None] * 12 for _ in years]
    for year, month, ret in monthly.iter_rows():
        grid[years.index(year)][month - 1] = ret
    fig.add_trace(
        go.Heatmap(
            z=grid, x=list(calendar.month_abbr)[1:], y=[str(y) for y in years],
            colorscale="RdYlGn", zmid=0.0, texttemplate="%{z:.1%}", hoverongaps=False,
        )
    )
    fig.update_layout(hovermode="closest", height=120 + 40 * len(years))
    fig.update_yaxes(type="category")
    return fig


def line_figure(frame: pl.DataFrame, column: str, title: str, mean: float | None = None) -> go.Figure:
    fig = _fig(title)
    fig.add_trace(go.Scatter(x=frame["date"].to_list(), y=frame[column].to_list(), name=column))
    if mean is not None:
        fig.add_hline(y=mean, line_dash="dash", annotation_text=f"mean {mean:.4f}")
    return fig


def ic_figure(series: pl.DataFrame) -> go.Figure:
    fig = _fig("Daily IC and RankIC")
    dates = series["date"].to_list()
    fig.add_trace(go.Bar(x=dates, y=series["ic"].to_list(), name="IC", opacity=0.5))
    fig.add_trace(go.Scatter(x=dates, y=series["rank_ic"].to_list(), name="RankIC", mode="lines"))
    return fig


def quantile_figure(values: list[float]) -> go.Figure:
    fig = _fig("Mean label return by score quantile (Q1 = lowest scores)")
    fig.add_trace(go.Bar(x=[f"Q{i + 1}" for i in range(len(values))], y=values, name="return"))
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(tickformat=".3%")
    return fig
