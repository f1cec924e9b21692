"""Backtest inputs and outputs: presets, fill rules, prediction formats, artifacts, CLI."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import polars as pl
import pytest

from stockformer.backtest import backtest_run, load_predictions, run_backtest, write_backtest
from stockformer.backtest.costs import limit_grid, resolve_costs
from stockformer.backtest.market import build_market, fill_arrays
from stockformer.config import BacktestConfig, CostConfig
from stockformer.errors import DataError
from tests.backtest_helpers import backtest_panel, random_predictions


def test_presets_and_overrides():
    cn = resolve_costs(CostConfig(preset="cn_a_share"))
    assert (cn.buy_commission, cn.min_commission, cn.lot_size, cn.price_limit) == (0.001, 5.0, 100, 0.1)
    rates = cn.stamp_rates(np.array(["2023-08-25", "2023-08-28"], dtype="datetime64[D]"))
    assert rates.tolist() == [0.001, 0.0005]
    us = resolve_costs(CostConfig(preset="us", slippage_bps=3.0))
    assert (us.stamp_duty, us.lot_size, us.price_limit, us.slippage_bps) == (0.0, 1, 0.0, 3.0)
    none = resolve_costs(CostConfig(preset="none"))
    assert none.buy_commission == 0 and none.lot_size == 0


def _two_day_panel(open2, close2, up=False, down=False):
    return pl.DataFrame({
        "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        "symbol": ["A", "A"], "open": [10.0, open2], "high": [10.0, max(open2, close2)],
        "low": [10.0, min(open2, close2)], "close": [10.0, close2], "volume": [1.0, 1.0],
        "limit_up": [False, up], "limit_down": [False, down],
    })


def test_limit_rules_at_open_and_close():
    m = build_market(_two_day_panel(open2=10.99, close2=10.5))
    f = fill_arrays(m, "open", 0.10)
    assert not f.can_buy[1, 0] and f.can_sell[1, 0]  # 10.99 >= 11.0 - 0.01: limit-up at open
    f = fill_arrays(m, "close", 0.10)
    assert f.can_buy[1, 0]  # flag says not locked at close
    m = build_market(_two_day_panel(open2=9.5, close2=9.0, down=True))
    f = fill_arrays(m, "close", 0.10)
    assert f.can_buy[1, 0] and not f.can_sell[1, 0]
    m = build_market(_two_day_panel(open2=9.01, close2=9.5).drop("limit_up", "limit_down"))
    assert not fill_arrays(m, "open", 0.10).can_sell[1, 0]
    assert fill_arrays(m, "open", 0.0).can_sell[1, 0]  # limit rule off


def test_st_stocks_use_the_five_percent_limit():
    """cn_a_share: an is_st row opening +4.9% is limit-up (5% rule), a normal row is not."""
    base = _two_day_panel(open2=10.49, close2=10.3).drop("limit_up", "limit_down")
    cn = resolve_costs(CostConfig(preset="cn_a_share"))
    assert cn.st_price_limit == 0.05
    for st_flag, buyable in ((False, True), (True, False)):
        m = build_market(base.with_columns(pl.Series("is_st", [st_flag, st_flag])))
        f = fill_arrays(m, "open", limit_grid(cn, m.is_st, m.close.shape))
        assert bool(f.can_buy[1, 0]) is buyable
    # without an is_st column every stock keeps the 10% limit
    m = build_market(base)
    assert m.is_st is None and fill_arrays(m, "open", limit_grid(cn, m.is_st, m.close.shape)).can_buy[1, 0]
    # us preset: no limits at all, ST or not; an explicit override applies
    us = resolve_costs(CostConfig(preset="us"))
    m = build_market(base.with_columns(pl.Series("is_st", [True, True])))
    assert fill_arrays(m, "open", limit_grid(us, m.is_st, m.close.shape)).can_buy[1, 0]
    wide = resolve_costs(CostConfig(preset="cn_a_share", st_price_limit=0.2))
    assert fill_arrays(m, "open", limit_grid(wide, m.is_st, m.close.shape)).can_buy[1, 0]


def test_st_limit_blocks_the_buy_end_to_end():
    """Two names, the better-scored one is ST and opens at +5%: the A-share run cannot buy it."""
    days = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    rows = []
    for sym, o2 in (("A", 10.5), ("B", 10.1)):
        for d, o, c in zip(days, (10.0, o2, 10.5), (10.0, 10.3, 10.5), strict=True):
            rows.append((d, sym, o, max(o, c), min(o, c), c, 1e6, sym == "A"))
    panel = pl.DataFrame(rows, orient="row", schema=["date", "symbol", "open", "high", "low", "close",
                                                      "volume", "is_st"])
    preds = pl.DataFrame({"date": [days[0]] * 2, "symbol": ["A", "B"], "score": [2.0, 1.0]})
    cfg = BacktestConfig(strategy="topk", topk=1, fill_price="open", initial_cash=1e6)
    bought = run_backtest(preds, panel, cfg).trades["symbol"].to_list()
    assert bought == []  # A is locked at its 5% limit; topk=1 targets only A
    plain = run_backtest(preds, panel.drop("is_st"), cfg).trades["symbol"].to_list()
    assert plain == ["A"]  # with the 10% rule the same open is buyable


def test_unsellable_holding_stays_held():
    """A held stock that is limit-down (or suspended) on its sell day is kept and valued."""
    dates = [dt.date(2024, 1, 2) + dt.timedelta(days=i) for i in range(4)]
    rows = []
    for i, d in enumerate(dates):
        rows.append((d, "A", 10.0, 10.0, True if i == 2 else False))  # A limit-down on day 2
        if i != 2:
            rows.append((d, "B", 20.0, 20.0, False))  # B suspended on day 2
    panel = pl.DataFrame(rows, schema=["date", "symbol", "open", "close", "limit_down"], orient="row")
    panel = panel.with_columns(high=pl.col("close"), low=pl.col("close"), volume=pl.lit(1.0))
    preds = pl.DataFrame({"date": [dates[0], dates[0], dates[1], dates[1]],
                          "symbol": ["A", "B", "A", "B"], "score": [2.0, 1.0, -5.0, -5.0]})
    cfg = BacktestConfig(strategy="topk", topk=2, initial_cash=1e6, costs=CostConfig(preset="cn_a_share"))
    res = run_backtest(preds, panel, cfg)
    day2 = res.positions.filter(pl.col("date") == dates[2])
    assert sorted(day2["symbol"].to_list()) == ["A", "B"]  # neither could be sold
    assert res.trades.filter(pl.col("side") == "sell").height == 0


def test_load_predictions_formats(tmp_path):
    panel = backtest_panel(days=6, stocks=4, seed=0)
    preds = random_predictions(panel, 1).drop_nulls()
    preds.write_parquet(tmp_path / "p.parquet")
    preds.write_csv(tmp_path / "p.csv")
    pdf = preds.to_pandas().rename(columns={"date": "datetime", "symbol": "instrument"})
    pdf["datetime"] = pd.to_datetime(pdf["datetime"])
    pdf.set_index(["datetime", "instrument"])[["score"]].to_pickle(tmp_path / "pred.pkl")
    want = preds.sort("date", "symbol")
    for name in ("p.parquet", "p.csv", "pred.pkl"):
        got = load_predictions(tmp_path / name)
        assert got.select("date", "symbol").equals(want.select("date", "symbol")), name
        np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy())
    preds.vstack(preds.head(1)).write_parquet(tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="duplicate"):
        load_predictions(tmp_path / "dup.parquet")
    preds.drop("score").write_csv(tmp_path / "bad.csv")
    with pytest.raises(DataError, match="missing column"):
        load_predictions(tmp_path / "bad.csv")


def test_write_backtest_artifacts(tmp_path):
    panel = backtest_panel(days=40, stocks=12, seed=2)
    res = run_backtest(random_predictions(panel, 3), panel, BacktestConfig(topk=3, initial_cash=1e6))
    out = write_backtest(res, tmp_path / "bt")
    summary = json.loads((out / "summary.json").read_text())
    for key in ("total_return", "annualized_return", "annualized_return_arithmetic",
                "annualized_volatility", "sharpe", "max_drawdown", "information_ratio",
                "excess_annualized_return", "turnover", "cost_paid", "win_rate"):
        assert key in summary
    assert "rank_ic" in summary["prediction"] and summary["settings"]["topk"] == 3
    eq = pl.read_parquet(out / "equity.parquet")
    assert eq.columns == ["date", "strategy", "benchmark", "excess"] and eq["strategy"][0] == 1.0
    assert pl.read_parquet(out / "positions.parquet").columns == ["date", "symbol", "shares", "weight", "value"]
    assert pl.read_parquet(out / "trades.parquet").columns == [
        "date", "symbol", "side", "shares", "price", "value", "commission", "stamp_duty", "slippage"]
    html = (out / "report.html").read_text()
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # the library is inline
    assert not re.search(r"<script[^>]+src=", html)  # nothing loaded from a CDN
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))


def test_index_benchmark_and_run_dir_cli(tmp_path):
    from stockformer.cli import main
    from stockformer.data.store import save_dataset

    panel = backtest_panel(days=30, stocks=10, seed=4, limit_flags=None)
    save_dataset(panel, tmp_path / "data")
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"data:\n  path: {tmp_path / 'data'}\nbacktest:\n  topk: 2\n")
    random_predictions(panel, 5).write_parquet(run / "predictions.parquet")
    dates = sorted(panel["date"].unique().to_list())
    pl.DataFrame({"date": dates, "close": np.linspace(100, 110, len(dates))}).write_csv(tmp_path / "idx.csv")
    res = backtest_run(run, {"backtest.benchmark": str(tmp_path / "idx.csv")})
    assert res.equity["benchmark"][-1] == pytest.approx(110 / 100)
    assert (run / "backtest" / "summary.json").is_file()
    # a newer compare folder (no predictions) must not be taken for the latest run
    newer = tmp_path / "runs" / "z-compare"
    newer.mkdir()
    (newer / "config.yaml").write_text("name: cmp\n")
    (newer / "comparison.csv").write_text("model\nmlp\n")
    code = main(["backtest", "--run", "latest", "--runs-dir", str(tmp_path / "runs"), "--topk", "3",
                 "--cost-preset", "us", "--fill", "open"])
    assert code == 0
    s = json.loads((run / "backtest" / "summary.json").read_text())["settings"]
    assert (s["topk"], s["fill_price"], s["costs"]["preset"]) == (3, "open", "us")
    assert main(["backtest", "--run", str(tmp_path / "nope")]) == 2
