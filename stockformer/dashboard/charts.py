"""Plotly figures for the pages (interactive: zoom, hover, range selection)."""

from __future__ import annotations

import calendar

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

_LAYOUT = dict(margin=dict(l=40, r=20, t=40, b=30), hovermode="x unified", height=360)


def _fig(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def equity_figure(equity: pl.DataFrame, title: str = "Equity vs benchmark") -> go.Figure:
    """Strategy and benchmark on top; the excess below on its own axis, whose scale (a few
    per cent around 0) would otherwise flatten the equity curves."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.05)
    dates = equity["date"].to_list()
    for col in ("strategy", "benchmark"):
        fig.add_trace(go.Scatter(x=dates, y=equity[col].to_list(), name=col, mode="lines"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=dates, y=equity["excess"].to_list(), name="excess", mode="lines",
                   fill="tozeroy", line=dict(dash="dot")),
        row=2, col=1,
    )
    fig.update_layout(title=title, **{**_LAYOUT, "height": 480})
    fig.update_xaxes(rangeslider_visible=True, rangeslider_thickness=0.06, row=2, col=1)
    fig.update_yaxes(title="value (start = 1.0)", row=1, col=1)
    fig.update_yaxes(title="excess", zeroline=True, row=2, col=1)
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


_MARKS = {  # trade kind -> legend name, marker
    "entry": ("entry", dict(symbol="triangle-up", size=11, color="#2ca02c")),
    "exit": ("exit", dict(symbol="triangle-down", size=11, color="#d62728")),
    "resize": ("resize", dict(symbol="circle-open", size=7, color="#7f7f7f")),
}


def stock_figure(symbol: str, price: pl.DataFrame, marks: pl.DataFrame, scores: pl.DataFrame) -> go.Figure:
    """A stock's price with the strategy's entries, exits and resizes on it (at their fill
    prices), and below it the stock's score, its daily rank in the hover."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4],
                        vertical_spacing=0.06)
    if price.height:
        fig.add_trace(go.Scatter(x=price["date"].to_list(), y=price["close"].to_list(), name="price",
                                 mode="lines"), row=1, col=1)
    kinds = marks.with_columns(
        pl.when(pl.col("kind").is_in(["add", "trim"])).then(pl.lit("resize")).otherwise(pl.col("kind")).alias("mark")
    )
    for mark, (name, marker) in _MARKS.items():
        rows = kinds.filter(pl.col("mark") == mark)
        if rows.height:
            fig.add_trace(
                go.Scatter(
                    x=rows["date"].to_list(), y=rows["price"].to_list(), name=name, mode="markers",
                    marker=marker, customdata=rows.select("side", "shares", "held").rows(),
                    hovertemplate="%{customdata[0]} %{customdata[1]:,.0f} at %{y:.4g}"
                                  "<br>held after: %{customdata[2]:,.0f}",
                ),
                row=1, col=1,
            )
    fig.add_trace(
        go.Scatter(
            x=scores["date"].to_list(), y=scores["score"].to_list(), name="score", mode="lines",
            customdata=scores.select("rank", "stocks").rows(),
            hovertemplate="%{y:.4f} (rank %{customdata[0]} of %{customdata[1]})",
        ),
        row=2, col=1,
    )
    fig.update_layout(title=f"{symbol}: price with the strategy's trades, and its score", **{**_LAYOUT, "height": 520})
    fig.update_yaxes(title="price", row=1, col=1)
    fig.update_yaxes(title="score", row=2, col=1)
    return fig
