"""run_backtest: predictions + panel -> BacktestResult (equity, positions, trades, summary).

Time discipline: the score row of day s (known at the close of s) drives the fill on day s + 1
(the next trading day of the panel), at its open or close; the stock's return is judged from
that fill on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from stockformer.backtest import annualization
from stockformer.backtest.costs import CostModel, limit_grid, resolve_costs
from stockformer.backtest.kernel import MODE_DROPOUT, MODE_TARGET, Signal, SimResult, Tape, simulate
from stockformer.backtest.market import Market, build_market, dense_columns, fill_arrays
from stockformer.backtest.performance import portfolio_metrics
from stockformer.backtest.selection import top_candidates
from stockformer.backtest.strategy import (
    long_short_weights,
    rebalance_days,
    relative_weights,
    topk_weights,
)
from stockformer.config import BacktestConfig
from stockformer.errors import DataError
from stockformer.signal.fast_metrics import backtest_prediction_metrics
from stockformer.signal.predictions import OPTIONAL, check_predictions


@dataclass
class BacktestResult:
    equity: pl.DataFrame  # date, strategy, benchmark, excess (normalised to 1.0 at start)
    positions: pl.DataFrame  # date, symbol, shares, weight, value
    trades: pl.DataFrame  # date, symbol, side, shares, price, value, commission, stamp_duty, slippage
    summary: dict  # portfolio metrics + "prediction" + "settings"
    daily: pl.DataFrame = field(default_factory=pl.DataFrame)  # date, ic, rank_ic (signal days)
    cash: np.ndarray | None = None  # [days] cash after each day's trades


@dataclass
class SimInputs:
    """Everything the kernel reads, on the simulation grid (row 0 = first signal day)."""

    dates: np.ndarray
    symbols: list[str]
    price: np.ndarray
    mark: np.ndarray
    can_buy: np.ndarray
    can_sell: np.ndarray
    trade_day: np.ndarray
    scores: np.ndarray  # signal behind each row's fill (row t = scores of day t - 1)
    stamp: np.ndarray
    close: np.ndarray  # raw close (NaN = suspended), for the benchmark
    window: tuple[int, int]  # panel rows [first signal day, last fill day]


def prepare(
    predictions: pl.DataFrame, panel: pl.DataFrame, cfg: BacktestConfig, costs: CostModel
) -> tuple[SimInputs, Market, np.ndarray, dict]:
    market = build_market(panel)
    limits = limit_grid(costs, market.is_st, market.close.shape)
    fills = fill_arrays(market, cfg.fill_price, limits)
    columns = ("score",) + tuple(c for c in OPTIONAL if c in predictions.columns)
    grids, info = dense_columns(predictions, market, columns)
    scores = grids.pop("score")
    signal_days = np.flatnonzero(np.isfinite(scores).any(axis=1))
    if len(signal_days) == 0:
        raise DataError("predictions: no row matches a (date, symbol) of the panel")
    s0, s_last = int(signal_days[0]), int(signal_days[-1])
    end = min(s_last + 1, len(market.dates) - 1)
    if end <= s0:
        raise DataError(
            f"predictions: no trading day after the first prediction date {market.dates[s0]} in the panel"
        )
    rows = slice(s0, end + 1)
    shifted = np.full_like(scores[rows], np.nan)
    shifted[1:] = scores[s0:end]
    rebal = rebalance_days(np.isfinite(scores).any(axis=1), cfg.rebalance_every)
    trade_day = np.zeros(end + 1 - s0, bool)
    trade_day[1:] = rebal[s0:end]
    sim = SimInputs(
        dates=market.dates[rows],
        symbols=market.symbols,
        price=np.ascontiguousarray(fills.price[rows]),
        mark=np.ascontiguousarray(market.mark()[rows]),
        can_buy=np.ascontiguousarray(fills.can_buy[rows]),
        can_sell=np.ascontiguousarray(fills.can_sell[rows]),
        trade_day=trade_day,
        scores=shifted,
        stamp=costs.stamp_rates(market.dates[rows]),
        close=market.close[rows],
        window=(s0, end),
    )
    return sim, market, scores, info | {"fill_price_grid": fills.price, "extra_grids": grids}


def simulate_inputs(sim: SimInputs, cfg: BacktestConfig, costs: CostModel, weights=None) -> SimResult:
    """Run the kernel; `weights` ([T, N], target mode) overrides the strategy's own targets."""
    t_len, n = sim.price.shape
    scores = np.ascontiguousarray(sim.scores)
    if weights is not None or cfg.strategy != "topk_dropout":
        if weights is None:
            if cfg.strategy == "topk":
                weights = topk_weights(sim.scores, sim.trade_day, cfg.topk, cfg.weighting)
            else:
                weights = long_short_weights(sim.scores, sim.trade_day, cfg.quantiles)
        signal = Signal(MODE_TARGET, np.ascontiguousarray(weights, dtype=np.float64),
                        np.zeros((t_len, 1), np.int64), scores, np.zeros((t_len, n)),
                        cfg.topk, cfg.n_drop)
    else:
        # enough best-first candidates to refill a book of topk after dropping n_drop
        cand = top_candidates(sim.scores, 2 * cfg.topk + cfg.n_drop)
        signal = Signal(MODE_DROPOUT, np.zeros((t_len, n)), cand, scores,
                        relative_weights(sim.scores, cfg.weighting), cfg.topk, cfg.n_drop)
    tape = Tape(sim.price, sim.mark, sim.can_buy, sim.can_sell, sim.trade_day, sim.stamp)
    return simulate(tape, signal, costs.fees(), float(cfg.initial_cash))


def equal_weight_benchmark(close: np.ndarray, universe: np.ndarray | None = None) -> np.ndarray:
    """Curve of the daily equal-weight mean return of stocks that traded on both days;
    `universe` (bool [N]) keeps only the stocks the model scored, so a run over 50 stocks of an
    88-stock panel is measured against those 50, not against stocks it could never pick."""
    if universe is not None:
        close = close[:, universe]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = close[1:] / close[:-1] - 1.0
    ok = np.isfinite(r)
    cnt = ok.sum(axis=1)
    mean = np.where(cnt > 0, np.where(ok, r, 0.0).sum(axis=1) / np.maximum(cnt, 1), 0.0)
    return np.concatenate([[1.0], np.cumprod(1.0 + mean)])


def index_benchmark(benchmark: pl.DataFrame, dates: np.ndarray) -> np.ndarray:
    if not {"date", "close"} <= set(benchmark.columns):
        raise DataError("benchmark: needs columns date, close")
    b = benchmark.select(pl.col("date").cast(pl.Date), pl.col("close").cast(pl.Float64)).drop_nulls()
    b = b.sort("date")
    grid = pl.DataFrame({"date": dates.astype("datetime64[D]")}).with_columns(pl.col("date").cast(pl.Date))
    joined = grid.join_asof(b, on="date", strategy="backward")
    closes = joined["close"].to_numpy()
    if not np.isfinite(closes[0]) or closes[0] <= 0:
        raise DataError(f"benchmark: no positive close on or before {dates[0]}")
    return closes / closes[0]


def _labels(fill_price: np.ndarray) -> np.ndarray:
    """label[s] = return from the fill on s + 1 to the fill on s + 2 (NaN where unknown)."""
    out = np.full_like(fill_price, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:-2] = fill_price[2:] / fill_price[1:-1] - 1.0
    return out


def _prediction_section(market, scores, extra_grids, fill_grid, window, topk):
    s0, end = window
    rows = slice(s0, end)  # signal days whose fill lies inside the window
    label = _labels(fill_grid)[rows]
    sc = scores[rows]
    mask = np.isfinite(sc) & np.isfinite(label)
    extra = {col: grid[rows] for col, grid in extra_grids.items()}
    pred_return = extra.get("pred_return", sc)
    mask &= np.isfinite(pred_return)
    metrics, ic, ric = backtest_prediction_metrics(
        pred_return, label, mask, prob_up=extra.get("prob_up"), score=sc, topk=topk
    )
    daily = pl.DataFrame(
        {"date": market.dates[rows], "ic": ic, "rank_ic": ric}
    ).with_columns(pl.col("date").cast(pl.Date))
    return metrics, daily


def _ledger_frames(sim, dates_pl, result: SimResult):
    """positions (one row per held cell, from the nonzero indices in one shot) and trades; symbols
    and dates are gathered from short Series by integer index (no Python lists of strings)."""
    symbols = pl.Series("symbol", sim.symbols, dtype=pl.Utf8)
    pos, value, tr = result.positions, result.value, result.trades
    d_idx, s_idx = np.nonzero(pos)
    held = pos[d_idx, s_idx]
    held_value = held * sim.mark[d_idx, s_idx]
    positions = pl.DataFrame(
        [
            dates_pl.gather(d_idx),
            symbols.gather(s_idx),
            pl.Series("shares", held),
            pl.Series("weight", held_value / value[d_idx]),
            pl.Series("value", held_value),
        ]
    )
    trades = pl.DataFrame(
        [
            dates_pl.gather(tr.day),
            symbols.gather(tr.symbol),
            pl.Series("side", ["sell", "buy"], dtype=pl.Utf8).gather((tr.qty > 0).astype(np.int64)),
            pl.Series("shares", np.abs(tr.qty)),
            pl.Series("price", tr.price),
            pl.Series("value", np.abs(tr.qty) * tr.price),
            pl.Series("commission", tr.commission),
            pl.Series("stamp_duty", tr.stamp),
            pl.Series("slippage", tr.slippage),
        ]
    )
    return positions, trades


def run_backtest(
    predictions: pl.DataFrame,
    panel: pl.DataFrame,
    cfg: BacktestConfig,
    benchmark: pl.DataFrame | None = None,
    *,
    market: str | None = None,
    calendar: str | None = None,
) -> BacktestResult:
    """market: the data's declared market (dataset meta.json); calendar: the configured trading
    calendar. With the cost preset they decide the days per year (backtest/annualization.py)."""
    predictions = check_predictions(predictions)
    costs = resolve_costs(cfg.costs)
    sim, grid, scores, info = prepare(predictions, panel, cfg, costs)
    result = simulate_inputs(sim, cfg, costs)
    value, tr = result.value, result.trades

    init = float(cfg.initial_cash)
    strat = value / init
    universe = np.isfinite(scores).any(axis=0)  # every stock the predictions scored
    if benchmark is not None:
        bench = index_benchmark(benchmark, sim.dates)
    else:
        bench = equal_weight_benchmark(sim.close, universe)
    dates_pl = pl.Series("date", sim.dates).cast(pl.Date)
    equity = pl.DataFrame(
        {"date": dates_pl, "strategy": strat, "benchmark": bench, "excess": strat - bench}
    )

    positions, trades = _ledger_frames(sim, dates_pl, result)

    traded = np.bincount(tr.day, weights=np.abs(tr.qty) * tr.price, minlength=len(value))
    # turnover denominator: the portfolio value at the previous close
    val_before = np.concatenate([[init], value[:-1]])
    cost_paid = float(tr.commission.sum() + tr.stamp.sum() + tr.slippage.sum())
    annual = annualization.decide(cfg.costs.preset, market, calendar)
    summary = portfolio_metrics(strat, bench, traded, val_before, cost_paid, init,
                                annual["days_per_year"])
    start, end = sim.dates[0].astype(object), sim.dates[-1].astype(object)
    annual["caveat"] = annualization.short_period_caveat(start, end, summary["days"])
    summary["annualization"] = annual
    summary["trades"] = int(len(tr.qty))
    pred_metrics, daily = _prediction_section(
        grid, scores, info["extra_grids"], info["fill_price_grid"], sim.window, cfg.topk
    )
    summary["prediction"] = pred_metrics
    summary["settings"] = {
        **cfg.model_dump(mode="json"),
        "costs_resolved": costs.to_dict(),
        "start": str(sim.dates[0]),
        "end": str(sim.dates[-1]),
        "stocks": int(universe.sum()),
        "panel_stocks": len(sim.symbols),
        "benchmark_source": "index" if benchmark is not None else "equal_weight_universe",
        "unknown_symbol_rows": info["unknown_symbol_rows"],
        "after_panel_rows": info["after_panel_rows"],
    }
    return BacktestResult(equity, positions, trades, summary, daily, result.cash)
