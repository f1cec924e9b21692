"""The fast engine against the slow reference, vectorbt, and the accounting identities."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockformer.backtest.costs import resolve_costs
from stockformer.backtest.engine import prepare, run_backtest, simulate_inputs
from stockformer.backtest.market import build_market, dense_scores
from stockformer.backtest.reference import reference_backtest
from stockformer.config import BacktestConfig, CostConfig
from tests.backtest_helpers import backtest_panel, foresight_predictions, random_predictions


def _run_both(panel, preds, cfg):
    costs = resolve_costs(cfg.costs)
    sim, market, scores, _ = prepare(preds, panel, cfg, costs)
    out = simulate_inputs(sim, cfg, costs)
    ref_dates, ref_values, ref_trades = reference_backtest(build_market(panel), scores, cfg, costs)
    return sim, out, ref_dates, ref_values, ref_trades


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    strategy=st.sampled_from(["topk_dropout", "topk", "long_short"]),
    fill=st.sampled_from(["open", "close"]),
    preset=st.sampled_from(["cn_a_share", "us", "none", "custom"]),
    weighting=st.sampled_from(["equal", "score"]),
    topk=st.integers(1, 6),
    n_drop=st.integers(0, 3),
    every=st.integers(1, 3),
    flags=st.booleans(),
    st_share=st.sampled_from([0.0, 0.4]),
)
def test_fast_engine_matches_reference(seed, strategy, fill, preset, weighting, topk, n_drop, every, flags,
                                       st_share):
    panel = backtest_panel(days=25, stocks=12, seed=seed, limit_flags="random" if flags else None, st=st_share)
    preds = random_predictions(panel, seed + 1)
    costs = CostConfig(preset=preset)
    if preset == "custom":  # every rule on, with slippage and a date-independent stamp duty
        costs = CostConfig(preset="custom", buy_commission=0.0003, sell_commission=0.0005,
                           min_commission=5.0, stamp_duty=0.001, slippage_bps=7.0, lot_size=100,
                           price_limit=0.1, st_price_limit=0.05)
    cfg = BacktestConfig(strategy=strategy, fill_price=fill, topk=topk, n_drop=n_drop,
                         rebalance_every=every, weighting=weighting, initial_cash=1e6, costs=costs)
    sim, out, ref_dates, ref_values, ref_trades = _run_both(panel, preds, cfg)
    value, trades = out.value, list(zip(*out.trades, strict=True))
    assert np.array_equal(sim.dates, ref_dates)
    np.testing.assert_allclose(value, ref_values, rtol=1e-12)
    assert len(trades) == len(ref_trades)
    for got, want in zip(trades, ref_trades, strict=True):
        assert (int(got[0]), int(got[1])) == want[:2]
        np.testing.assert_allclose(got[2:], want[2:], rtol=1e-12, atol=1e-9)


def test_reference_comparison_can_fail():
    """A changed rule (no lot rounding in the engine) must show up as a mismatch."""
    panel = backtest_panel(days=25, stocks=12, seed=3)
    preds = random_predictions(panel, 4)
    cfg = BacktestConfig(topk=3, n_drop=1, initial_cash=1e6)
    costs = resolve_costs(cfg.costs)
    sim, market, scores, _ = prepare(preds, panel, cfg, costs)
    fast = simulate_inputs(sim, cfg, costs.__class__(**{**costs.__dict__, "lot_size": 1})).value
    ref = reference_backtest(build_market(panel), scores, cfg, costs)[1]
    assert not np.allclose(fast, ref, rtol=1e-12)


@pytest.mark.parametrize("strategy", ["topk", "long_short"])
def test_matches_vectorbt_from_orders(strategy):
    vbt = pytest.importorskip("vectorbt")
    panel = backtest_panel(days=60, stocks=15, seed=11, suspend=0.0, limit_flags=None)
    preds = random_predictions(panel, 12)
    fee = 0.001
    cfg = BacktestConfig(strategy=strategy, topk=4, fill_price="close", initial_cash=1e6,
                         costs=CostConfig(preset="custom", buy_commission=fee, sell_commission=fee))
    costs = resolve_costs(cfg.costs)
    sim, *_ = prepare(preds, panel, cfg, costs)
    w = _strategy_weights(sim, cfg)
    value = simulate_inputs(sim, cfg, costs, weights=w).value
    np.testing.assert_allclose(value, _vbt_value(vbt, sim.price, w, fee, cfg.initial_cash), rtol=1e-9)
    # and the check is sharp: a different fee is visible
    assert not np.allclose(value, _vbt_value(vbt, sim.price, w, fee * 1.1, cfg.initial_cash), rtol=1e-9)


def _strategy_weights(sim, cfg):
    from stockformer.backtest.strategy import long_short_weights, topk_weights

    if cfg.strategy == "topk":
        return topk_weights(sim.scores, sim.trade_day, cfg.topk, cfg.weighting)
    return long_short_weights(sim.scores, sim.trade_day, cfg.quantiles)


def _vbt_value(vbt, close, size, fee, init_cash):
    pf = vbt.Portfolio.from_orders(
        close=close, size=size, size_type="targetpercent", cash_sharing=True, group_by=True,
        call_seq="auto", fees=fee, init_cash=init_cash, freq="1D",
    )
    return np.asarray(pf.value()).ravel()


@pytest.mark.parametrize("strategy", ["topk", "long_short"])
def test_matches_vectorbt_with_suspensions(strategy):
    """10% suspended stock-days. Two equivalent vectorbt formulations: NaN close on suspended cells
    (vectorbt ignores the order and values the holding at its last price, like our carried-forward
    close) and forward-filled close with size NaN there. Seed 6 contains days where a partial fill
    is followed by more buys: before the cash rounding rule (see kernel.py) the engine bought 1e-11
    shares of "dust" there and drifted 1e-4 away from vectorbt."""
    vbt = pytest.importorskip("vectorbt")
    from stockformer.backtest.market import ffill

    panel = backtest_panel(days=120, stocks=30, seed=6, suspend=0.1, limit_flags=None)
    preds = random_predictions(panel, 7)
    fee = 0.001
    cfg = BacktestConfig(strategy=strategy, topk=6, fill_price="close", initial_cash=1e6,
                         costs=CostConfig(preset="custom", buy_commission=fee, sell_commission=fee))
    costs = resolve_costs(cfg.costs)
    sim, *_ = prepare(preds, panel, cfg, costs)
    suspended = np.isnan(sim.price)
    assert suspended.mean() > 0.05
    w = _strategy_weights(sim, cfg)
    pos, cash, value = simulate_inputs(sim, cfg, costs, weights=w)[:3]  # positions, cash, value
    held = np.abs(pos[pos != 0])
    assert held.min() > 1e-3  # no dust positions
    np.testing.assert_allclose(value, _vbt_value(vbt, sim.price, w, fee, cfg.initial_cash), rtol=1e-9)
    w_nan = np.where(suspended, np.nan, w)
    np.testing.assert_allclose(value, _vbt_value(vbt, ffill(sim.price), w_nan, fee, cfg.initial_cash),
                               rtol=1e-9)
    if strategy == "topk":  # the partial-fill-then-more-buys path is exercised
        assert (cash[sim.trade_day] == 0.0).any()


@pytest.mark.parametrize("strategy", ["topk_dropout", "topk", "long_short"])
def test_perfect_foresight_wins_and_reversed_loses(strategy):
    panel = backtest_panel(days=80, stocks=30, seed=5, suspend=0.02, limit_flags=None, vol=0.02)
    cfg = BacktestConfig(strategy=strategy, topk=5, n_drop=5, costs=CostConfig(preset="us"))
    good = run_backtest(foresight_predictions(panel), panel, cfg).summary
    bad = run_backtest(foresight_predictions(panel, sign=-1.0), panel, cfg).summary
    assert good["total_return"] > 1.0
    assert bad["total_return"] < -0.5
    assert good["prediction"]["rank_ic"] > 0.99


def test_costs_reduce_equity_by_exactly_the_fees_paid():
    """Same trades with and without fees (one buy day, one liquidation day): the equity gap
    equals the commissions and stamp duty of the fee run."""
    panel = backtest_panel(days=20, stocks=10, seed=7, suspend=0.0, limit_flags=None)
    preds = random_predictions(panel, 8)
    base = dict(strategy="topk", topk=4, initial_cash=1e6)
    fee_cfg = BacktestConfig(**base, costs=CostConfig(
        preset="custom", buy_commission=0.001, sell_commission=0.001, min_commission=5.0,
        stamp_duty=0.001, lot_size=100))
    free_cfg = BacktestConfig(**base, costs=CostConfig(preset="custom", lot_size=100))
    runs = []
    for cfg in (fee_cfg, free_cfg):
        costs = resolve_costs(cfg.costs)
        sim, *_ = prepare(preds, panel, cfg, costs)
        w = np.full(sim.price.shape, np.nan)
        w[2, :4] = 0.2  # buy 4 names at 20% each (cash never binds)
        w[10, :] = 0.0  # liquidate everything
        runs.append(simulate_inputs(sim, cfg, costs, weights=w))
    fee_run, free_run = runs
    assert np.array_equal(fee_run.positions, free_run.positions)  # identical positions every day
    fees = np.zeros(len(fee_run.value))
    np.add.at(fees, fee_run.trades.day, fee_run.trades.commission + fee_run.trades.stamp)
    assert fees.sum() > 0
    np.testing.assert_allclose(free_run.value - fee_run.value, np.cumsum(fees), rtol=0, atol=1e-6)


def test_cash_accounting_identity_full_run():
    panel = backtest_panel(days=40, stocks=20, seed=9)
    preds = random_predictions(panel, 10)
    cfg = BacktestConfig(topk=5, n_drop=2, initial_cash=1e6,
                         costs=CostConfig(preset="cn_a_share", slippage_bps=5.0))
    res = run_backtest(preds, panel, cfg)
    t = res.trades
    buys = t.filter(pl.col("side") == "buy")["value"].sum()
    sells = t.filter(pl.col("side") == "sell")["value"].sum()
    costs = t["commission"].sum() + t["stamp_duty"].sum()
    assert res.cash[-1] == pytest.approx(1e6 - buys + sells - costs, rel=1e-10)
    assert (t.filter(pl.col("side") == "buy")["shares"] % 100 == 0).all()
    assert t["commission"].min() >= 5.0
    # holdings never exceed topk
    assert res.positions.group_by("date").len()["len"].max() <= 5


def test_no_look_ahead_trades_unchanged_by_future_data():
    panel = backtest_panel(days=40, stocks=15, seed=13)
    preds = random_predictions(panel, 14)
    dates = sorted(panel["date"].unique().to_list())
    cut = dates[25]
    cfg = BacktestConfig(topk=4, n_drop=1, fill_price="open", initial_cash=1e6)
    a = run_backtest(preds, panel, cfg)
    later = pl.col("date") > cut
    shaken = panel.with_columns(
        *(pl.when(later).then(pl.col(c) * 1.37).otherwise(pl.col(c)).alias(c)
          for c in ("open", "high", "low", "close")),
        pl.when(later).then(~pl.col("limit_up")).otherwise(pl.col("limit_up")).alias("limit_up"),
    )
    preds2 = preds.with_columns(
        pl.when(pl.col("date") > cut).then(-pl.col("score")).otherwise(pl.col("score")).alias("score")
    )
    b = run_backtest(preds2, shaken, cfg)
    early = pl.col("date") <= cut
    assert a.trades.filter(early).equals(b.trades.filter(early))
    assert a.equity.filter(early).equals(b.equity.filter(early))
    assert not a.trades.equals(b.trades)


def test_predictions_off_calendar_are_rejected():
    from stockformer.errors import DataError

    panel = backtest_panel(days=10, stocks=5, seed=1)
    gap = sorted(panel["date"].unique().to_list())[3]
    gapped = panel.filter(pl.col("date") != gap)
    preds = random_predictions(panel, 2)
    with pytest.raises(DataError, match="dates not in the panel"):
        run_backtest(preds, gapped, BacktestConfig())
    # predictions after the panel's last day are set aside and counted, not rejected
    grid, info = dense_scores(random_predictions(panel, 3, drop_last=0), build_market(panel.filter(
        pl.col("date") < pl.col("date").max())))
    assert info["after_panel_rows"] > 0 and np.isfinite(grid).any()
