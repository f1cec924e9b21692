"""Plain pandas Alpha158: the independent reference for stockformer.factors.alpha158.

Written from qlib's Alpha158DL formulas with pandas' own rolling operators (min_periods = 1,
as qlib's Rolling), one stock's own rows at a time; Slope / Rsquare / Resi / IdxMax / IdxMin
go through `rolling.apply` with numpy, like qlib's Python fallbacks. Slow on purpose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS = (5, 10, 20, 30, 60)
E = 1e-12
STD_ZERO = 2e-5


def _slope(y: np.ndarray) -> float:
    if len(y) < 2:
        return np.nan
    x = np.arange(len(y), dtype=float)
    return float(np.polyfit(x, y, 1)[0])


def _rsquare(y: np.ndarray) -> float:
    if len(y) < 2:
        return np.nan
    x = np.arange(len(y), dtype=float)
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def _resi(y: np.ndarray) -> float:
    if len(y) < 2:
        return np.nan
    x = np.arange(len(y), dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    return float(y[-1] - (slope * x[-1] + intercept))


def _near_zero(std: pd.Series) -> np.ndarray:
    return np.isclose(std, 0, atol=STD_ZERO)


def alpha158_stock(df: pd.DataFrame) -> pd.DataFrame:
    """Alpha158 of one stock's rows (sorted by date): open, high, low, close, vwap, volume."""
    o, h, lo, c, vw, v = (df[k] for k in ("open", "high", "low", "close", "vwap", "volume"))
    out: dict[str, pd.Series] = {
        "KMID": (c - o) / o,
        "KLEN": (h - lo) / o,
        "KMID2": (c - o) / (h - lo + E),
        "KUP": (h - np.maximum(o, c)) / o,
        "KUP2": (h - np.maximum(o, c)) / (h - lo + E),
        "KLOW": (np.minimum(o, c) - lo) / o,
        "KLOW2": (np.minimum(o, c) - lo) / (h - lo + E),
        "KSFT": (2 * c - h - lo) / o,
        "KSFT2": (2 * c - h - lo) / (h - lo + E),
        "OPEN0": o / c,
        "HIGH0": h / c,
        "LOW0": lo / c,
        "VWAP0": vw / c,
    }
    c1, v1 = c.shift(1), v.shift(1)
    up = (c > c1).astype(float)
    down = (c < c1).astype(float)
    ret = c / c1
    lvol = np.log(v + 1)
    lvol_chg = np.log(v / v1 + 1)
    wv = (ret - 1).abs() * v

    def roll(s: pd.Series, d: int):
        return s.rolling(d, min_periods=1)

    ops: dict[str, list[pd.Series]] = {}
    for d in WINDOWS:
        hmax, lmin = roll(h, d).max(), roll(lo, d).min()
        imax = roll(h, d).apply(lambda x: x.argmax() + 1, raw=True)
        imin = roll(lo, d).apply(lambda x: x.argmin() + 1, raw=True)
        rsqr = roll(c, d).apply(_rsquare, raw=True)
        rsqr[_near_zero(roll(c, d).std())] = np.nan
        corr = roll(c, d).corr(lvol)
        corr[_near_zero(roll(c, d).std()) | _near_zero(roll(lvol, d).std())] = np.nan
        cord = roll(ret, d).corr(lvol_chg)
        cord[_near_zero(roll(ret, d).std()) | _near_zero(roll(lvol_chg, d).std())] = np.nan
        dc_abs = roll((c - c1).abs(), d).sum() + E
        dv_abs = roll((v - v1).abs(), d).sum() + E
        dc_up, dc_dn = roll(np.maximum(c - c1, 0), d).sum(), roll(np.maximum(c1 - c, 0), d).sum()
        dv_up, dv_dn = roll(np.maximum(v - v1, 0), d).sum(), roll(np.maximum(v1 - v, 0), d).sum()
        per_op = {
            "ROC": c.shift(d) / c,
            "MA": roll(c, d).mean() / c,
            "STD": roll(c, d).std() / c,
            "BETA": roll(c, d).apply(_slope, raw=True) / c,
            "RSQR": rsqr,
            "RESI": roll(c, d).apply(_resi, raw=True) / c,
            "MAX": hmax / c,
            "MIN": lmin / c,
            "QTLU": roll(c, d).quantile(0.8) / c,
            "QTLD": roll(c, d).quantile(0.2) / c,
            "RANK": roll(c, d).rank(pct=True),
            "RSV": (c - lmin) / (hmax - lmin + E),
            "IMAX": imax / d,
            "IMIN": imin / d,
            "IMXD": (imax - imin) / d,
            "CORR": corr,
            "CORD": cord,
            "CNTP": roll(up, d).mean(),
            "CNTN": roll(down, d).mean(),
            "CNTD": roll(up, d).mean() - roll(down, d).mean(),
            "SUMP": dc_up / dc_abs,
            "SUMN": dc_dn / dc_abs,
            "SUMD": (dc_up - dc_dn) / dc_abs,
            "VMA": roll(v, d).mean() / (v + E),
            "VSTD": roll(v, d).std() / (v + E),
            "WVMA": roll(wv, d).std() / (roll(wv, d).mean() + E),
            "VSUMP": dv_up / dv_abs,
            "VSUMN": dv_dn / dv_abs,
            "VSUMD": (dv_up - dv_dn) / dv_abs,
        }
        for op, series in per_op.items():
            ops.setdefault(op, []).append(series.rename(f"{op}{d}"))
    for series_list in ops.values():  # qlib's order: operator, then window
        for series in series_list:
            out[str(series.name)] = series
    return pd.DataFrame(out, index=df.index)


def alpha158_pandas(df: pd.DataFrame) -> pd.DataFrame:
    """Raw Alpha158 indexed by (date, symbol), qlib names and order, float64."""
    df = df.sort_values(["symbol", "date"]).reset_index(drop=True)
    if "vwap" not in df.columns:
        df["vwap"] = (df["high"] + df["low"] + df["close"]) / 3.0
    parts = [alpha158_stock(g) for _, g in df.groupby("symbol", sort=False)]
    res = pd.concat(parts)
    res.index = pd.MultiIndex.from_arrays([df.loc[res.index, "date"], df.loc[res.index, "symbol"]])
    return res.sort_index()
