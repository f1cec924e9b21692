"""No look-ahead, end to end: garbage after a date t changes nothing on or before t.

One tiny run is trained once (module fixture). For the clean panel and for a copy whose rows
after t are garbage (random prices, zero volumes, new industries, extra and missing stocks,
dropped and added days), we rebuild features, rebuild the graph on the run's training period,
predict with the run's weights and backtest. Everything dated on or before t must be identical.

Boundary: a signal dated s fills on the next trading day s + 1 (the close of s + 1 here), so the
first fill that can read data after t is dated t + 1. Hence predictions, features, positions,
trades and equity are compared for dates <= t (the fill on t uses the t close and the signal of
the day before t); labels only for dates s with s + label_lag <= t (their target is realised by t).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockformer.backtest import run_backtest
from stockformer.config import Config, config_from_dict
from stockformer.data.store import save_dataset
from stockformer.data.synthetic import generate_market
from stockformer.data.validate import validate
from stockformer.factors.featureset import FeatureSet
from stockformer.factors.pipeline import build_features
from stockformer.graph import build_graph
from stockformer.jobs.daily import predict_day
from stockformer.jobs.run_model import load_graph, load_model
from stockformer.rundir import load_run
from stockformer.signal.trade_output import candidate_scores
from stockformer.train.run import industries_asof, predictions_frame
from stockformer.train.splits import make_splits
from stockformer.train.trainer import predict

STOCKS, DAYS, SEED = 30, 320, 5


@pytest.fixture(scope="module")
def market() -> pl.DataFrame:
    return generate_market(stocks=STOCKS, days=DAYS, seed=SEED)


@pytest.fixture(scope="module", params=["alpha360", "alpha158"])
def family(request) -> str:
    """Every factor family goes through the same end-to-end look-ahead test."""
    return request.param


def tiny_config(data: Path, cache: Path, family: str = "alpha360") -> Config:
    return config_from_dict({
        "name": "lookahead", "seed": 0,
        "data": {"path": str(data)},
        "features": {"families": [family], "window": 10, "cache_dir": str(cache),
                     "min_history": 20},
        "graph": {"embedding": "spectral", "dim": 8, "top_k": 8},
        "model": {"t1": 8, "t2": 2, "d_model": 16, "layers": 1, "heads": 2, "dropout": 0.0},
        "train": {"device": "cpu", "epochs": 1, "batch_size": 16},
        "backtest": {"topk": 5, "n_drop": 1, "fill_price": "close"},
        "job": {"calendar": "data"},
    })


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, market, family) -> Path:
    from stockformer.train.run import train_run

    root = tmp_path_factory.mktemp("lookahead")
    data = save_dataset(market, root / "data")
    return train_run(tiny_config(data, root / "cache", family), run_dir=root / "run")


@pytest.fixture(scope="module")
def cut(run_dir) -> date:
    """t: a day in the middle of the run's test period."""
    days = pl.read_parquet(run_dir / "predictions.parquet")["date"].unique().sort()
    assert days.len() > 20
    return days[days.len() // 2]


def garbage_after(panel: pl.DataFrame, t: date, seed: int = 99) -> pl.DataFrame:
    """Rows dated <= t untouched; after t: random prices, zero volume, junk industries and
    caps, a third of the stocks gone, five new stocks, some days dropped and one day added."""
    rng = np.random.default_rng(seed)
    before = panel.filter(pl.col("date") <= t)
    after = panel.filter(pl.col("date") > t)
    symbols = sorted(after["symbol"].unique().to_list())
    gone = set(rng.choice(symbols, size=len(symbols) // 3, replace=False).tolist())
    days = sorted(after["date"].unique().to_list())
    dropped = set(days[1:len(days):4])  # t+1 stays, so the boundary fill day exists
    after = after.filter(~pl.col("symbol").is_in(list(gone)) & ~pl.col("date").is_in(list(dropped)))
    extra = pl.DataFrame({
        "date": [d for d in days for _ in range(5)],
        "symbol": [f"99999{k}.XX" for _ in days for k in range(5)],
    }).with_columns(pl.col("date").cast(pl.Date))
    kept = [s for s in symbols if s not in gone]
    added = pl.DataFrame({"date": [date(2030, 1, 2)] * len(kept), "symbol": kept})
    junk = pl.concat([after.select("date", "symbol"), extra, added]).sort("date", "symbol")
    n = junk.height
    close = rng.uniform(0.5, 500.0, n)
    high = close * rng.uniform(1.0, 1.5, n)
    low = close * rng.uniform(0.5, 1.0, n)
    junk = junk.with_columns(
        pl.Series("open", rng.uniform(low, high)),
        pl.Series("high", high),
        pl.Series("low", low),
        pl.Series("close", close),
        pl.Series("volume", np.zeros(n)),
        pl.Series("vwap", rng.uniform(low, high)),
        pl.Series("amount", np.zeros(n)),
        pl.Series("industry", rng.choice(["Junk", "Banks", "Zzz"], n).tolist()),
        pl.Series("market_cap", rng.uniform(1.0, 1e12, n)),
        pl.Series("limit_up", rng.random(n) < 0.3),
        pl.Series("limit_down", rng.random(n) < 0.3),
    )
    out, _ = validate(pl.concat([before, junk.select(before.columns)]), "garbage")
    return out


@pytest.fixture(scope="module")
def garbage(market, cut) -> pl.DataFrame:
    return garbage_after(market, cut)


def reindexed(fs: FeatureSet, symbols: list[str]) -> FeatureSet:
    """The FeatureSet on the run's symbols (extra stocks dropped, absent ones all-invalid)."""
    pos = {s: i for i, s in enumerate(fs.symbols)}
    idx = np.array([pos.get(s, -1) for s in symbols])
    have = idx >= 0

    def take(a: np.ndarray) -> np.ndarray:
        out = np.zeros((a.shape[0], len(symbols), *a.shape[2:]), a.dtype)
        out[:, have] = a[:, idx[have]]
        return out

    inds = None if fs.industries is None else [
        fs.industries[i] if i >= 0 else None for i in idx.tolist()]
    return FeatureSet(
        features=take(fs.features), returns=take(fs.returns), labels=take(fs.labels),
        mask=take(fs.mask), valid=take(fs.valid), dates=fs.dates, symbols=list(symbols),
        feature_names=fs.feature_names, industries=inds, label_lag=fs.label_lag, report=fs.report,
    )


class Pipeline:
    """Features -> predictions (the run's weights) -> backtest, for one panel."""

    def __init__(self, run_dir: Path, panel: pl.DataFrame, t: date):
        info = load_run(run_dir)
        self.info, self.panel, self.t = info, panel, t
        fs = build_features(panel, info.config.features, use_cache=False)
        self.fs = reindexed(fs, info.symbols)
        self.t_idx = int(np.searchsorted(self.fs.dates.astype("datetime64[D]"), np.datetime64(t)))
        assert self.fs.dates[self.t_idx] == np.datetime64(t)
        self.graph = load_graph(info)
        self.model = load_model(info, len(self.fs.feature_names), self.graph)
        # the run's test period, as anchor positions on this panel's calendar
        test_days = pl.read_parquet(run_dir / "predictions.parquet")["date"].unique().sort()
        on_cal = np.isin(self.fs.dates.astype("datetime64[D]"),
                         test_days.to_numpy().astype("datetime64[D]"))
        self.test_anchors = np.flatnonzero(on_cal)

    def predictions(self, anchors: np.ndarray) -> pl.DataFrame:
        out = predict(self.model, self.fs, anchors, self.graph, device="cpu", batch_size=16)
        valid = self.fs.valid[anchors]
        # the run's pred_return is in return units (metrics.json's return_scale, as the daily
        # job applies it); it matters when the traded output is the regression score itself
        pred = out.pred_return * float(self.info.metrics["return_scale"])
        score = candidate_scores(pred, out.prob_up, valid)[self.info.trade_output]
        return predictions_frame(self.fs, anchors, pred, out.prob_up, score)

    def backtest(self, preds: pl.DataFrame):
        return run_backtest(preds, self.panel, self.info.config.backtest)


@pytest.fixture(scope="module")
def clean(run_dir, market, cut) -> Pipeline:
    return Pipeline(run_dir, market, cut)


@pytest.fixture(scope="module")
def dirty(run_dir, garbage, cut) -> Pipeline:
    return Pipeline(run_dir, garbage, cut)


def upto(frame: pl.DataFrame, t: date) -> pl.DataFrame:
    return frame.filter(pl.col("date") <= t).sort(frame.columns)


def test_garbage_really_differs_after_t(market, garbage, cut):
    """The perturbation is real: a test that compared nothing after t would prove nothing."""
    assert upto(garbage, cut).equals(upto(market, cut))
    a, b = market.filter(pl.col("date") > cut), garbage.filter(pl.col("date") > cut)
    assert set(b["symbol"]) - set(a["symbol"]) and set(a["symbol"]) - set(b["symbol"])
    assert (b["volume"] == 0).all()
    assert garbage["date"].max() > market["date"].max()


def test_features_and_realised_labels_unchanged(clean, dirty, cut):
    i = clean.t_idx
    assert dirty.t_idx == i
    for name in ("features", "returns", "valid"):
        np.testing.assert_array_equal(getattr(clean.fs, name)[: i + 1],
                                      getattr(dirty.fs, name)[: i + 1], err_msg=name)
    k = i + 1 - clean.fs.label_lag  # labels of dates s <= t - label_lag are realised by t
    np.testing.assert_array_equal(clean.fs.mask[:k], dirty.fs.mask[:k])
    np.testing.assert_array_equal(clean.fs.labels[:k], dirty.fs.labels[:k])
    # and the garbage did reach the features after t (the comparison can fail)
    assert not np.array_equal(clean.fs.features[i + 1 : i + 5], dirty.fs.features[i + 1 : i + 5])


@pytest.mark.parametrize("source", ["correlation", "both", "industry"])
def test_graph_refit_on_training_period_is_unchanged(clean, dirty, source):
    """The graph fitted on the training period (which ends before t) from the garbage panel
    equals the one from the clean panel; the features need no fitted normalisation (they are
    cross-sectional, per date), so the graph is everything fitted outside the model."""
    cfg = clean.info.config
    fs = clean.fs
    split = make_splits(fs.dates, cfg.split, t1=cfg.model.t1, t2=cfg.model.t2,
                        label_lag=fs.label_lag)[0]
    assert split.fit_end < clean.t_idx
    gcfg = cfg.graph.model_copy(update={"source": source})
    # industries as of the training end, as train_run passes them (the garbage reclassifies
    # stocks after t; FeatureSet.industries, the last known ones, would see that)
    asof = fs.dates[split.fit_end]
    ref = build_graph(fs.returns, fs.valid, gcfg, fit_end=split.fit_end, seed=cfg.seed,
                      industries=industries_asof(clean.panel, fs.symbols, asof))
    got = build_graph(dirty.fs.returns, dirty.fs.valid, gcfg, fit_end=split.fit_end,
                      seed=cfg.seed, industries=industries_asof(dirty.panel, fs.symbols, asof))
    if source != "correlation":
        assert dirty.fs.industries != fs.industries  # the garbage did reclassify: can fail
    np.testing.assert_array_equal(ref.adjacency, got.adjacency)
    np.testing.assert_array_equal(ref.embedding, got.embedding)
    if source == cfg.graph.source:  # the run's own graph.npz is this one
        np.testing.assert_array_equal(ref.adjacency, clean.graph.adjacency)


def test_predictions_and_backtest_up_to_t_are_identical(clean, dirty, cut, run_dir):
    anchors = clean.test_anchors[clean.test_anchors <= clean.t_idx]
    np.testing.assert_array_equal(anchors, dirty.test_anchors[dirty.test_anchors <= dirty.t_idx])
    p_clean, p_dirty = clean.predictions(anchors), dirty.predictions(anchors)
    assert p_clean["date"].max() == cut
    assert p_clean.equals(p_dirty)
    # the clean pipeline reproduces the run's own test predictions (same weights, same inputs)
    own = upto(pl.read_parquet(run_dir / "predictions.parquet"), cut).sort("date", "symbol")
    assert own.select("date", "symbol").equals(p_clean.select("date", "symbol"))
    # (batching differs from the run's, so only up to float32 noise)
    np.testing.assert_allclose(own["score"].to_numpy(), p_clean["score"].to_numpy(), atol=1e-4)

    r_clean, r_dirty = clean.backtest(p_clean), dirty.backtest(p_dirty)
    _assert_backtests_agree_up_to(r_clean, r_dirty, cut)


def test_backtest_of_all_test_predictions_agrees_up_to_t(clean, dirty, cut):
    """Predictions after t exist too (made from garbage): they may only move fills after t."""
    p_clean = clean.predictions(clean.test_anchors)
    p_dirty = dirty.predictions(dirty.test_anchors)
    assert upto(p_clean, cut).equals(upto(p_dirty, cut))
    assert not p_clean.filter(pl.col("date") > cut).equals(p_dirty.filter(pl.col("date") > cut))
    r_clean, r_dirty = clean.backtest(p_clean), dirty.backtest(p_dirty)
    _assert_backtests_agree_up_to(r_clean, r_dirty, cut)
    # after t they diverge: the boundary is tight, not vacuous
    after = r_clean.equity.filter(pl.col("date") > cut)
    assert after.height and not after.equals(r_dirty.equity.filter(pl.col("date") > cut)
                                             .head(after.height))


def _assert_backtests_agree_up_to(a, b, t: date) -> None:
    assert upto(a.equity, t).height > 5
    assert upto(a.equity, t).equals(upto(b.equity, t))
    assert upto(a.positions, t).equals(upto(b.positions, t))
    assert upto(a.trades, t).height > 0
    assert upto(a.trades, t).equals(upto(b.trades, t))


def test_daily_job_targets_on_t_are_identical(clean, dirty, cut):
    """The daily job's picks and target weights for t ignore everything after t."""
    a = predict_day(clean.info, clean.panel, cut, {})
    b = predict_day(dirty.info, dirty.panel, cut, {})
    assert a.picks == b.picks == clean.info.config.backtest.topk
    assert a.table.equals(b.table)
    assert a.table["target_weight"].sum() == pytest.approx(1.0)
