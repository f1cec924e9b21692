"""Backtest speed: 5,000 stocks x 2,500 days, TopK-Dropout (topk 50, n_drop 5, daily), all A-share
rules; against vectorbt from_orders on the same target weights (percentage fees) and against the
pure-Python reference loop (timed on a slice of days and extrapolated).

Run: python -m benchmarks.bench_backtest [--stocks 5000 --days 2500 --ref-days 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import polars as pl

from stockformer.backtest.costs import resolve_costs
from stockformer.backtest.engine import prepare, run_backtest, simulate_inputs
from stockformer.backtest.market import build_market
from stockformer.backtest.reference import reference_backtest
from stockformer.backtest.strategy import topk_weights
from stockformer.config import BacktestConfig, CostConfig
from stockformer.data.random_panel import random_panel

# 2% suspended stock-days, daily returns clipped at +-10% and flagged when they reach it
PANEL = dict(suspend=0.02, late_listing=False, extras=False, vol=0.025, max_move=0.1, varied=False,
             limit_move=0.0999, start=dt.date(2014, 1, 1), business_days=False, symbol_width=5)


def make_predictions(panel: pl.DataFrame, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return panel.select("date", "symbol").with_columns(pl.Series("score", rng.normal(size=panel.height)))


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=2500)
    ap.add_argument("--ref-days", type=int, default=40)
    args = ap.parse_args()

    panel = random_panel(args.stocks, args.days, **PANEL)
    preds = make_predictions(panel)
    cfg = BacktestConfig(topk=50, n_drop=5, rebalance_every=1, fill_price="open",
                         costs=CostConfig(preset="cn_a_share"))
    costs = resolve_costs(cfg.costs)
    rows = []

    sim, market, scores, _ = prepare(preds, panel, cfg, costs)
    simulate_inputs(sim, cfg, costs)  # JIT warm-up (cached afterwards)
    t_kernel = best_of(lambda: simulate_inputs(sim, cfg, costs))
    rows.append(("engine kernel, TopK-Dropout, A-share rules", t_kernel))
    t_prep = best_of(lambda: prepare(preds, panel, cfg, costs), repeat=1)
    rows.append(("panel + predictions -> dense arrays (prepare)", t_prep))
    t_full = best_of(lambda: run_backtest(preds, panel, cfg), repeat=1)
    rows.append(("run_backtest end to end (incl. metrics, frames)", t_full))

    # percentage-fee case on identical target weights: engine vs vectorbt
    pct_cfg = BacktestConfig(strategy="topk", topk=50, fill_price="close", costs=CostConfig(
        preset="custom", buy_commission=0.001, sell_commission=0.001))
    pct_costs = resolve_costs(pct_cfg.costs)
    psim, *_ = prepare(preds, panel, pct_cfg, pct_costs)
    w = topk_weights(psim.scores, psim.trade_day, 50, "equal")
    w_vbt = np.where(np.isnan(w), np.nan, w)
    simulate_inputs(psim, pct_cfg, pct_costs, weights=w)
    t_eng_pct = best_of(lambda: simulate_inputs(psim, pct_cfg, pct_costs, weights=w))
    rows.append(("engine kernel, top-k target weights, % fees", t_eng_pct))
    import vectorbt as vbt

    def run_vbt():
        return vbt.Portfolio.from_orders(
            close=psim.price, size=w_vbt, size_type="targetpercent", cash_sharing=True,
            group_by=True, call_seq="auto", fees=0.001, init_cash=pct_cfg.initial_cash, freq="1D",
        ).value()

    run_vbt()  # warm-up
    t_vbt = best_of(run_vbt, repeat=1)
    rows.append(("vectorbt from_orders + value(), same weights", t_vbt))
    ours = simulate_inputs(psim, pct_cfg, pct_costs, weights=w).value
    rel = float(np.max(np.abs(np.asarray(run_vbt()).ravel() / ours - 1)))

    # reference loop on the first ref_days days, extrapolated linearly
    dates = sorted(panel["date"].unique().to_list())
    sub = panel.filter(pl.col("date") <= dates[args.ref_days - 1])
    sub_preds = preds.filter(pl.col("date") <= dates[args.ref_days - 2])
    sim_s, market_s, scores_s, _ = prepare(sub_preds, sub, cfg, costs)
    t0 = time.perf_counter()
    reference_backtest(build_market(sub), scores_s, cfg, costs)
    t_ref = (time.perf_counter() - t0) * (args.days / args.ref_days)
    rows.append((f"reference Python loop (timed on {args.ref_days} days, extrapolated)", t_ref))

    print(f"\n{args.stocks:,} stocks x {args.days:,} days, topk 50, n_drop 5, daily\n")
    print("| step | seconds |")
    print("|---|---|")
    for name, sec in rows:
        print(f"| {name} | {sec:.3f} |")
    print(f"\nspeed-up vs vectorbt (same weights, % fees): {t_vbt / t_eng_pct:.1f}x; "
          f"max relative equity difference {rel:.2e}")
    print(f"speed-up vs reference loop (A-share TopK-Dropout): {t_ref / t_kernel:.0f}x")


if __name__ == "__main__":
    main()
