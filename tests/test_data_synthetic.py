from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from stockformer.data.schema import REQUIRED_COLUMNS
from stockformer.data.synthetic import generate_market, oracle_rank_ic, simulate_market
from stockformer.data.validate import validate


def test_panel_is_valid_and_sorted(synth_panel: pl.DataFrame) -> None:
    for c in (*REQUIRED_COLUMNS, "industry", "market_cap", "limit_up", "limit_down", "vwap"):
        assert c in synth_panel.columns
    clean, report = validate(synth_panel, "synth")
    assert report.repaired == {} and report.dropped == {}
    assert report.sorted_input
    assert clean.equals(synth_panel)
    assert clean.schema["date"] == pl.Date


def test_deterministic_by_seed() -> None:
    a = generate_market(stocks=12, days=60, seed=3)
    b = generate_market(stocks=12, days=60, seed=3)
    c = generate_market(stocks=12, days=60, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


def test_business_days_and_start() -> None:
    p = generate_market(stocks=5, days=30, seed=0, start=date(2020, 1, 4))  # a Saturday
    days = p["date"].unique().sort()
    assert days[0] == date(2020, 1, 6)
    assert (days.dt.weekday() <= 5).all()
    assert days.len() == 30


def test_market_features(synth_panel: pl.DataFrame) -> None:
    p = synth_panel
    assert 3 <= p["industry"].n_unique() <= 15
    assert (p["market_cap"] > 0).all()
    assert p.select((pl.col("high") >= pl.max_horizontal("open", "close")).all()).item()
    assert p.select((pl.col("low") <= pl.min_horizontal("open", "close")).all()).item()
    assert ((p["vwap"] >= p["low"]) & (p["vwap"] <= p["high"])).all()
    # late listings and suspensions leave rows out
    first = p.group_by("symbol").agg(pl.col("date").min())
    assert first["date"].n_unique() > 1
    counts = p.group_by("symbol").len()
    assert counts["len"].min() < p["date"].n_unique()


def test_price_limits_and_flags() -> None:
    p = generate_market(stocks=200, days=250, seed=2)
    r = p.with_columns((pl.col("close") / pl.col("close").shift(1).over("symbol") - 1).alias("r"))
    r = r.drop_nulls("r")
    assert r["r"].max() <= 0.1 + 1e-9 and r["r"].min() >= -0.1 - 1e-9
    assert r["limit_up"].sum() > 0 and r["limit_down"].sum() > 0
    assert (r.filter(pl.col("limit_up"))["r"] > 0.0999).all()
    assert (r.filter(pl.col("limit_down"))["r"] < -0.0999).all()


def test_fat_tails_vol_clustering_and_volume() -> None:
    mk = simulate_market(stocks=100, days=600, seed=5)
    r = np.diff(np.log(mk.close), axis=0)
    x = r[np.isfinite(r)]
    x = (x - x.mean()) / x.std()
    assert (x**4).mean() > 4.0  # excess kurtosis well above normal
    a = np.abs(np.nan_to_num(r))
    ac = np.corrcoef(a[1:].ravel(), a[:-1].ravel())[0, 1]
    assert ac > 0.03  # volatility clustering
    p = mk.panel.with_columns(
        (pl.col("close") / pl.col("close").shift(1).over("symbol") - 1).abs().alias("ar"),
        pl.col("volume").log().alias("lv"),
    ).drop_nulls("ar")
    assert p.select(pl.corr("ar", "lv", method="spearman")).item() > 0.05


def test_planted_structure_is_learnable_but_modest() -> None:
    ic = oracle_rank_ic(stocks=150, days=500, seed=0)
    assert 0.08 < ic["oracle_label"] < 0.30
    assert 0.10 < ic["oracle_next"] < 0.35
    for simple in ("reversal_1d", "momentum_20d"):
        assert 0.0 < ic[simple] < ic["oracle_label"]


def test_truth_is_unbiased_conditional_expectation() -> None:
    # realised (cross-sectionally demeaned) returns regress on the truth with slope ~1
    mk = simulate_market(stocks=150, days=500, seed=11)
    r = mk.close[1:] / mk.close[:-1] - 1.0
    for truth, target in ((mk.expected_next[:-1], r), (mk.expected_label[:-2], r[1:])):
        ok = np.isfinite(truth) & np.isfinite(target)
        x = np.where(ok, truth, np.nan)
        y = np.where(ok, target, np.nan)
        x = (x - np.nanmean(x, 1, keepdims=True))[ok]
        y = (y - np.nanmean(y, 1, keepdims=True))[ok]
        slope = (x * y).sum() / (x * x).sum()
        assert 0.75 < slope < 1.25


def test_rejects_tiny_sizes() -> None:
    with pytest.raises(ValueError):
        generate_market(stocks=1, days=10)
