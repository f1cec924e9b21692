"""Plain pandas feature build: the independent reference for tests and the speed baseline.

Straightforward on purpose, the same steps as stockformer.factors.pipeline:
- Alpha360: group by symbol, shift by rows of the stock's own history, divide;
- a day without a row carries the stock's last traded row of features (forward fill);
- per date: clip to median +- k * 1.4826 * MAD, z-score (population std), NaN -> 0;
- per date: OLS residual (np.linalg.lstsq) on industry dummies + standardised log market
  cap over the stocks present that day, then z-score again;
- labels: close[t + 1 + h] / close[t + 1] - 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIELDS = ("close", "open", "high", "low", "vwap", "volume")
MAD_SCALE = 1.4826


def alpha360_pandas(df: pd.DataFrame, window: int = 60) -> pd.DataFrame:
    """Raw Alpha360 indexed by (date, symbol), qlib names and order, float32."""
    df = df.sort_values(["symbol", "date"]).reset_index(drop=True)
    if "vwap" not in df.columns:
        df["vwap"] = (df["high"] + df["low"] + df["close"]) / 3.0
    g = df.groupby("symbol", sort=False)
    out = {}
    for f in FIELDS:
        base = df["volume"] + 1e-12 if f == "volume" else df["close"]
        for i in range(window - 1, -1, -1):
            out[f"{f.upper()}{i}"] = (g[f].shift(i) / base).astype(np.float32)
    res = pd.DataFrame(out)
    res.index = pd.MultiIndex.from_arrays([df["date"], df["symbol"]])
    return res.sort_index()


def labels_pandas(df: pd.DataFrame, horizon: int = 1) -> pd.Series:
    """close[t+1+h] / close[t+1] - 1 on the calendar (NaN where a row is missing)."""
    wide = df.pivot(index="date", columns="symbol", values="close").sort_index()
    lab = wide.shift(-(1 + horizon)) / wide.shift(-1) - 1.0
    return lab.stack()


def zscore_pandas(feat: pd.DataFrame) -> pd.DataFrame:
    g = feat.groupby(level="date")
    return (feat - g.transform("mean")) / g.transform("std", ddof=0)


def fill_suspended(raw: pd.DataFrame, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The full (date x symbol) grid; a day without a row takes the stock's last traded row.
    Returns (features, present: the stock has traded by then)."""
    grid = pd.MultiIndex.from_product([sorted(df["date"].unique()), sorted(df["symbol"].unique())],
                                      names=["date", "symbol"])
    rowid = pd.Series(np.arange(len(raw), dtype=float), index=raw.index).reindex(grid)
    rowid = rowid.groupby(level="symbol").ffill()
    present = rowid.notna()
    values = np.full((len(grid), raw.shape[1]), np.nan, dtype=np.float32)
    values[present.to_numpy()] = raw.to_numpy()[rowid[present].to_numpy().astype(np.int64)]
    return pd.DataFrame(values, index=grid, columns=raw.columns), present


def clip_zscore_pandas(feat: pd.DataFrame, k: float = 3.0) -> pd.DataFrame:
    g = feat.groupby(level="date")
    med = g.transform("median")
    mad = (feat - med).abs().groupby(level="date").transform("median") * MAD_SCALE
    clipped = feat.clip(med - k * mad, med + k * mad)
    return zscore_pandas(clipped).fillna(0.0)


def neutralize_pandas(feat: pd.DataFrame, present: pd.Series, exposures: pd.DataFrame
                      ) -> pd.DataFrame:
    """Per date: residual of the present stocks on industry dummies + standardised log market
    cap (lstsq), z-scored again; absent stocks 0. feat is on the full sorted grid."""
    n_dates = feat.index.get_level_values("date").nunique()
    y_all = feat.to_numpy().reshape(n_dates, -1, feat.shape[1]).copy()
    ok_all = present.to_numpy().reshape(n_dates, -1)
    industry = exposures["industry"].fillna("?").to_numpy().reshape(n_dates, -1)
    log_mcap = exposures["log_mcap"].to_numpy().reshape(n_dates, -1)
    for d in range(n_dates):
        ok = ok_all[d]
        y_all[d, ~ok] = 0.0
        if ok.sum() < 3:
            continue
        cols = [pd.get_dummies(pd.Series(industry[d, ok]), dtype=float).to_numpy()]
        lm = pd.Series(log_mcap[d, ok])
        if lm.notna().sum() >= 2:
            sd = lm.std(ddof=0)
            cols.append(((lm - lm.mean()) / (sd if sd > 0 else 1.0)).fillna(0.0).to_numpy()[:, None])
        x = np.hstack(cols)
        y = y_all[d, ok].astype(np.float64)
        beta = np.linalg.lstsq(x, y, rcond=None)[0]
        y_all[d, ok] = y - x @ beta
    out = pd.DataFrame(y_all.reshape(feat.shape), index=feat.index, columns=feat.columns)
    return zscore_pandas(out.where(present)).fillna(0.0)


def features_pandas(df: pd.DataFrame, window: int = 60, k: float = 3.0) -> pd.DataFrame:
    """The whole feature build: [(date, symbol) x 360] float64 on the full grid."""
    raw = alpha360_pandas(df, window)
    feat, present = fill_suspended(raw, df)
    feat = clip_zscore_pandas(feat, k)
    ex = df.set_index(["date", "symbol"])[["industry", "market_cap"]].reindex(feat.index)
    ex["log_mcap"] = np.log(ex["market_cap"].where(ex["market_cap"] > 0))
    ex = ex.groupby(level="symbol").ffill()  # a suspended day keeps its last exposures
    return neutralize_pandas(feat, present, ex)
