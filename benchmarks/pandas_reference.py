"""Plain pandas Alpha360 + labels: the independent reference for tests and the speed baseline.

Straightforward on purpose: group by symbol, shift by rows of the stock's own history, divide.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIELDS = ("close", "open", "high", "low", "vwap", "volume")


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
    return (feat - g.transform("mean")) / g.transform(lambda x: x.std(ddof=0))
