"""The self-contained report: report.html (inline plotly JS, no CDN) and report.png (matplotlib)."""

from __future__ import annotations

import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from stockformer.backtest import annualization
from stockformer.backtest.formatting import benchmark_label, flat_settings, fmt
from stockformer.backtest.performance import drawdown_curve
from stockformer.backtest.periods import monthly_returns, yearly_table
from stockformer.signal.metrics import accuracy_text

if TYPE_CHECKING:
    from stockformer.backtest.engine import BacktestResult

_HEADLINE = {
    "total_return": "Total return",
    "annualized_return": "Annualised return (compounded)",
    "annualized_return_arithmetic": "Annualised return (mean daily x days)",
    "annualized_volatility": "Annualised volatility",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "max_drawdown": "Max drawdown",
    "benchmark_total_return": "Benchmark total return",
    "excess_annualized_return": "Excess return over the benchmark (annualised)",
    "information_ratio": "Information ratio",
    "alpha": "Alpha to the benchmark (annualised)",
    "beta": "Beta to the benchmark",
    "turnover": "Turnover (one-way, per day)",
    "cost_paid": "Costs paid",
    "win_rate": "Share of up days",
    "trades": "Trades",
    "days": "Trading days",
}
_PREDICTION = {
    "ic": "IC", "rank_ic": "RankIC", "icir": "ICIR", "rank_icir": "RankICIR",
    "accuracy": "Direction accuracy", "topk_hit_rate": "Top-k hit rate",
    "long_short_spread": "Long-short spread (mean daily)",
}
_YEARLY = {
    "year": "Year", "days": "Days", "return": "Return", "benchmark_return": "Benchmark",
    "excess_return": "Excess", "sharpe": "Sharpe", "max_drawdown": "Max drawdown",
}
_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
    "th,td{border:1px solid #ccc;padding:2px 8px}td.num{text-align:right}th{background:#f3f3f3}"
    ".warning,.caveat{padding:0.6em 1em;margin:1em 0}"
    ".warning{border:2px solid #c60;background:#fff3e0;color:#7a3a00}"
    ".caveat{border:2px solid #b08900;background:#fffbe6;color:#5c4700}"
)


def _box(kind: str, title: str, lines: list[str]) -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(str(w))}</li>" for w in lines)
    return f"<div class='{kind}'><strong>{title}</strong><ul>{items}</ul></div>"


def _accuracy_cell(pred: dict) -> str:
    return accuracy_text(pred)


def _table(cls: str, header: tuple[str, str], pairs: list[tuple[str, str]], numeric=True) -> str:
    """A two-column table: names as row headers, values right-aligned when they are numbers."""
    head = "".join(f"<th scope='col'>{html.escape(h)}</th>" for h in header)
    td = "<td class='num'>" if numeric else "<td>"
    rows = "".join(
        f"<tr><th scope='row'>{html.escape(k)}</th>{td}{html.escape(v)}</td></tr>" for k, v in pairs
    )
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _settings_rows(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """Dotted settings; the costs as resolved (preset + overrides), not the unset overrides."""
    shown = {("costs" if k == "costs_resolved" else k): v for k, v in settings.items() if k != "costs"}
    return list(flat_settings(shown).items())


def _yearly_html(result: BacktestResult, days_per_year: int) -> str:
    table = yearly_table(result.equity, days_per_year)
    head = "".join(f"<th scope='col'>{label}</th>" for label in _YEARLY.values())
    body = "".join(
        "<tr>" + "".join(
            f"<td class='num'>{html.escape(str(row['year']) if k == 'year' else fmt(k, row[k]))}</td>"
            for k in _YEARLY
        ) + "</tr>"
        for row in table.iter_rows(named=True)
    )
    return f"<table class='yearly'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(result: BacktestResult, bench_name: str) -> str:
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
    fig.add_trace(go.Scatter(x=dates, y=eq["benchmark"].to_numpy(), name=f"benchmark: {bench_name}"), 1, 1)
    fig.add_trace(go.Scatter(x=dates, y=drawdown_curve(strat), name="drawdown", fill="tozeroy"), 2, 1)
    mr = monthly_returns(eq)
    labels = [f"{y}-{m:02d}" for y, m in zip(mr["year"], mr["month"], strict=True)]
    fig.add_trace(go.Bar(x=labels, y=mr["ret"].to_numpy(), name="monthly return"), 2, 2)
    if result.daily.height:
        fig.add_trace(go.Bar(x=result.daily["date"].to_list(), y=result.daily["ic"].to_numpy(),
                             name="daily IC"), 3, 1)
    q = result.summary.get("prediction", {}).get("quantile_returns", [])
    fig.add_trace(go.Bar(x=[f"Q{i + 1}" for i in range(len(q))], y=q, name="quintile return"), 3, 2)
    axes = (  # row, col, x title, y title, y tick format
        (1, 1, "date", "value (start = 1.0)", None),
        (2, 1, "date", "drawdown", ".0%"),
        (2, 2, "month", "return", ".1%"),
        (3, 1, "signal date", "IC", None),
        (3, 2, "score quintile (Q5 = highest)", "mean next-day return", ".2%"),
    )
    for row, col, x_title, y_title, ticks in axes:
        fig.update_xaxes(title_text=x_title, row=row, col=col)
        fig.update_yaxes(title_text=y_title, tickformat=ticks, row=row, col=col)
    fig.update_layout(height=1150, showlegend=True)  # the page's <h1> is the one title
    return fig.to_html(full_html=False, include_plotlyjs=True)


def _subtitle(settings: dict[str, Any], bench_name: str) -> str:
    parts = [str(settings.get("strategy", "")), f"top {settings.get('topk', '?')}"]
    if settings.get("strategy") == "topk_dropout":
        parts[-1] += f", drop {settings.get('n_drop', '?')}"
    span = f"{settings.get('start', '?')} .. {settings.get('end', '?')}"
    return html.escape(f"{' '.join(parts)}, {span}; benchmark: {bench_name}")


def build_html(result: BacktestResult, warnings: list[str] | None = None) -> str:
    """The report; `warnings` (the training run's metrics.json "warnings") show as a box on top."""
    summary = result.summary
    settings = summary.get("settings", {})
    bench_name = benchmark_label(settings)
    days = annualization.days_per_year(summary)
    note = annualization.caveat(summary)
    decided = (summary.get("annualization") or {}).get("decided_by")
    portfolio = [(label, fmt(k, summary.get(k))) for k, label in _HEADLINE.items()]
    basis = f"{days} trading days a year" + (f" ({decided})" if decided else "")
    portfolio.append(("Annualised with", basis))
    pred = summary.get("prediction", {})
    prediction = [
        (label, _accuracy_cell(pred) if k == "accuracy" else fmt(k, pred.get(k)))
        for k, label in _PREDICTION.items()
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Backtest report</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Backtest report</h1><p class='subtitle'>{_subtitle(settings, bench_name)}</p>"
        f"{_box('warning', 'Warning', list(warnings or []))}"
        f"{_box('caveat', 'Caveat', [note] if note else [])}"
        f"<h2>Portfolio</h2>{_table('portfolio', ('metric', 'value'), portfolio)}"
        f"<h2>Per year</h2>{_yearly_html(result, days)}"
        f"<h2>Prediction</h2>{_table('prediction', ('metric', 'value'), prediction)}"
        f"<h2>Charts</h2>{_figure(result, bench_name)}"
        f"<h2>Settings</h2>{_table('settings', ('setting', 'value'), _settings_rows(settings), False)}"
        "</body></html>"
    )


def build_png(result: BacktestResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    eq = result.equity
    dates = eq["date"].to_list()
    strat = eq["strategy"].to_numpy()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    fig.suptitle("Backtest report")
    axes[0, 0].plot(dates, strat, label="strategy")
    bench_name = benchmark_label(result.summary.get("settings", {}))
    axes[0, 0].plot(dates, eq["benchmark"].to_numpy(), label=f"benchmark: {bench_name}")
    axes[0, 0].set(title="Equity vs benchmark", xlabel="date", ylabel="value (start = 1.0)")
    axes[0, 0].legend()
    axes[0, 1].fill_between(dates, drawdown_curve(strat), 0.0, color="tab:red", alpha=0.5)
    axes[0, 1].set(title="Drawdown", xlabel="date", ylabel="drawdown")
    axes[0, 1].yaxis.set_major_formatter(PercentFormatter(1.0))
    if result.daily.height:
        axes[1, 0].bar(result.daily["date"].to_list(), np.nan_to_num(result.daily["ic"].to_numpy()))
    axes[1, 0].set(title="IC by day", xlabel="signal date", ylabel="IC")
    q = result.summary.get("prediction", {}).get("quantile_returns", [])
    axes[1, 1].bar([f"Q{i + 1}" for i in range(len(q))], np.nan_to_num(np.asarray(q, float)))
    axes[1, 1].set(title="Mean next-day return by score quintile", xlabel="score quintile",
                   ylabel="mean next-day return")
    axes[1, 1].yaxis.set_major_formatter(PercentFormatter(1.0))
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
