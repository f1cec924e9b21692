"""The backtest's strategy seam: one TopK-Dropout routine for the kernel and the daily job, the
sell / buy / fee kernels and their named records, the reference backtest inside the package."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockformer.backtest import kernel, selection
from stockformer.backtest.costs import Fees, affordable_qty, commission, resolve_costs
from stockformer.backtest.engine import prepare, simulate_inputs
from stockformer.backtest.orders import buy, buy_value, sell
from stockformer.config import BacktestConfig, CostConfig
from stockformer.jobs import strategy as job_strategy
from stockformer.jobs.strategy import topk_dropout_holdings
from tests.backtest_helpers import backtest_panel

ROOT = Path(__file__).resolve().parents[1]
NO_FEES = Fees(0.0, 0.0, 0.0, 0.0, 0)


def test_dropout_pick_sells_held_names_in_the_bottom_n_drop():
    # ranks: 0 (0.9), 3 (0.8), 2 (0.5), 4 (0.2), 1 (0.1); held 0, 1, 2
    scores = np.array([0.9, 0.1, 0.5, 0.8, 0.2])
    held = np.array([True, True, True, False, False])
    cand = selection.top_candidates(scores[None], 5)[0]
    pick = selection.topk_dropout_pick(scores, held, cand, 3, 2)
    # held + best new (3, 4) ranked: 0 3 2 4 1 -> bottom two are 4 and 1; only 1 is held
    assert pick.sell.tolist() == [1]
    assert pick.buy.tolist() == [3, 4]
    # a held stock without a score ranks last, so it is the first to go
    scores[2] = np.nan
    pick = selection.topk_dropout_pick(scores, held, cand, 3, 1)
    assert pick.sell.tolist() == [2]
    # n_drop 0: nothing held is sold
    assert selection.topk_dropout_pick(scores, held, cand, 3, 0).sell.tolist() == []


def test_job_and_kernel_share_one_dropout_routine():
    assert job_strategy.topk_dropout_pick is selection.topk_dropout_pick
    assert kernel.topk_dropout_pick is selection.topk_dropout_pick


@pytest.mark.parametrize("topk,n_drop", [(3, 1), (5, 2), (4, 0), (2, 4)])
def test_kernel_holdings_follow_the_daily_job_day_by_day(topk, n_drop):
    """Without costs, limits or suspensions every order fills, so the backtest's book on each
    rebalance day is exactly what the daily job would publish from the same scores."""
    panel = backtest_panel(days=30, stocks=14, seed=21, suspend=0.0, limit_flags=None)
    rng = np.random.default_rng(22)
    dates = sorted(panel["date"].unique().to_list())[:-1]
    preds = panel.filter(pl.col("date").is_in(dates)).select("date", "symbol")
    preds = preds.with_columns(pl.Series("score", rng.normal(size=preds.height).round(1)))  # ties
    cfg = BacktestConfig(topk=topk, n_drop=n_drop, initial_cash=1e6,
                         costs=CostConfig(preset="none"))
    costs = resolve_costs(cfg.costs)
    sim, *_ = prepare(preds, panel, cfg, costs)
    positions = simulate_inputs(sim, cfg, costs).positions
    held: list[str] = []
    changed = 0
    for t in np.flatnonzero(sim.trade_day):
        row = sim.scores[t]
        scores = {s: float(row[j]) for j, s in enumerate(sim.symbols) if np.isfinite(row[j])}
        new = topk_dropout_holdings(scores, held, topk, n_drop)
        book = [sim.symbols[j] for j in np.flatnonzero(positions[t] > 0)]
        assert sorted(new) == book, t
        changed += len(set(held) - set(new))
        held = new
    assert changed > 0 or n_drop == 0  # the check saw the routine drop names


def test_sell_kernel_rounds_lots_except_a_full_close():
    fees = Fees(0.0, 0.001, 5.0, 0.0, 100)
    shares = np.array([1234.0])
    part = sell(shares, 0, 1000.0, 10.0, True, 0.0005, fees, 0.0)
    assert part.qty == -200.0 and shares[0] == 1034.0  # 234 to sell, rounded down to 200
    assert part.commission == 5.0 and part.stamp == pytest.approx(1.0)
    assert part.cash == pytest.approx(2000.0 - 5.0 - 1.0)
    full = sell(shares, 0, 0.0, 10.0, True, 0.0, fees, part.cash)
    assert full.qty == -1034.0 and shares[0] == 0.0
    refused = sell(np.array([500.0]), 0, 0.0, 10.0, False, 0.0, fees, 7.0)
    assert refused.qty == 0.0 and refused.cash == 7.0


def test_buy_kernel_cuts_to_the_cash_fees_included():
    fees = Fees(0.001, 0.0, 5.0, 0.002, 100)
    shares = np.zeros(1)
    fill = buy(shares, 0, 10_000.0, 10.0, True, fees, 50_000.0)  # wants 100k of stock
    adj = 10.0 * (1.0 + 0.002)
    assert fill.price == adj and fill.qty == affordable_qty(50_000.0, adj, 0.001, 5.0, 100)
    assert fill.qty % 100 == 0 and shares[0] == fill.qty
    assert fill.commission == commission(0.001, fill.qty * adj, 5.0)
    assert fill.cash == pytest.approx(50_000.0 - fill.qty * adj - fill.commission)
    assert 0.0 <= fill.cash < 100 * adj * 1.001 + 5.0  # one more lot would not fit
    assert fill.slippage == pytest.approx(fill.qty * 10.0 * 0.002)
    # a budgeted buy spends at most its budget
    budgeted = buy_value(np.zeros(1), 0, 5_000.0, 10.0, True, NO_FEES, 50_000.0)
    assert budgeted.qty == pytest.approx(500.0) and budgeted.cash == pytest.approx(45_000.0)
    assert buy(np.zeros(1), 0, 100.0, 10.0, True, fees, 0.0).qty == 0.0  # no cash, no fill


def test_buy_that_spends_all_cash_books_the_residual_as_commission():
    """vectorbt's rounding rule: no dust cash is left after a buy that spends (almost) all."""
    cash = 1000.0 + 1e-10
    fill = buy(np.zeros(1), 0, 100.0, 10.0, True, NO_FEES, cash)
    assert fill.cash == 0.0 and fill.commission == pytest.approx(1e-10)


def test_simulate_returns_a_named_record():
    panel = backtest_panel(days=15, stocks=8, seed=4)
    preds = panel.select("date", "symbol").with_columns(
        pl.Series("score", np.random.default_rng(5).normal(size=panel.height)))
    cfg = BacktestConfig(topk=3, n_drop=1, initial_cash=1e6)
    costs = resolve_costs(cfg.costs)
    sim, *_ = prepare(preds, panel, cfg, costs)
    out = simulate_inputs(sim, cfg, costs)
    assert isinstance(out, kernel.SimResult)
    days = len(sim.dates)
    assert out.positions.shape == sim.price.shape and out.cash.shape == out.value.shape == (days,)
    tr = out.trades
    assert len(tr.day) == len(tr.qty) == len(tr.commission) > 0
    # the ledger adds up: cash = initial - buys + sells - costs
    flow = -(tr.qty * tr.price).sum() - tr.commission.sum() - tr.stamp.sum()
    assert out.cash[-1] == pytest.approx(1e6 + flow, rel=1e-10)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_benchmarks_and_package_do_not_import_tests():
    files = sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "stockformer").rglob("*.py"))
    assert files
    offenders = [f.name for f in files
                 if any(m == "tests" or m.startswith("tests.") for m in _imported_modules(f))]
    assert offenders == []
    assert "stockformer.backtest.reference" in _imported_modules(ROOT / "benchmarks/bench_backtest.py")
