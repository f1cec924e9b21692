"""Each stock's own trading history as stock-major arrays: the input every factor family reads.

"i days back" = i rows back in the stock's *own* trading history (qlib's Ref on the stock's
series); qlib itself shifts on the market calendar, which makes every factor that looks across a
suspension NaN. A day without a row takes the features of the stock's last traded day when
fillna is on (forward-fill from its own past) and has none (source -1) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockformer.factors.dense import DensePanel, history_rank
from stockformer.factors.kernels import compress_stock_major

FIELDS = ("close", "open", "high", "low", "vwap", "volume")  # Alpha360's block order
CLOSE, OPEN, HIGH, LOW, VWAP, VOLUME = range(len(FIELDS))
QLIB_EPS = 1e-12  # qlib's "+1e-12" in denominators that can be 0 (volume, high - low)


def vwap_with_fallback(dp: DensePanel) -> tuple[np.ndarray, str, int]:
    """The vwap array, filling gaps from amount / volume or (high + low + close) / 3.

    Returns (vwap, source description, number of cells that used a fallback)."""
    f = dp.fields
    typical = (f["high"] + f["low"] + f["close"]) / 3.0
    fallback, how = typical, "(high+low+close)/3"
    if "amount" in f:
        with np.errstate(invalid="ignore", divide="ignore"):
            per_share = f["amount"] / f["volume"]
        ok = np.isfinite(per_share) & (per_share > 0)
        fallback = np.where(ok, per_share, typical)
        how = "amount/volume, else (high+low+close)/3"
    if "vwap" not in f:
        return np.where(dp.valid, fallback, np.nan), f"absent: {how}", int(dp.valid.sum())
    vwap = f["vwap"]
    gaps = dp.valid & ~np.isfinite(vwap)
    return np.where(gaps, fallback, vwap), f"vwap column, gaps: {how}", int(gaps.sum())


@dataclass
class OwnHistory:
    """Everything a family needs to compute any date range without recomputation."""

    # [6, N, T] float64: each field on the stock's h-th traded day (FIELDS order), stock-major
    # so one stock's lags are contiguous
    comp: np.ndarray
    source: np.ndarray  # [T, N] int64 history rank of the day the features come from, -1 none


def make_history(dp: DensePanel, fillna: bool = True) -> tuple[OwnHistory, dict]:
    rank = history_rank(dp.valid)
    vwap, vwap_how, vwap_filled = vwap_with_fallback(dp)
    t, n = dp.shape
    comp = np.empty((len(FIELDS), n, t), dtype=np.float64)
    filled = 0
    for j, f in enumerate(FIELDS):
        # a traded day with a missing field takes the stock's previous traded value (fillna)
        x = vwap if f == "vwap" else dp.fields[f]
        filled += int(compress_stock_major(x, dp.valid, fillna, comp[j]).sum())
    source = rank if fillna else np.where(dp.valid, rank, -1)
    report = {
        "vwap_source": vwap_how,
        "vwap_fallback_cells": vwap_filled,
        "raw_cells_forward_filled": filled,
        "suspended_cells_forward_filled": int(((~dp.valid) & (rank >= 0)).sum()) if fillna else 0,
    }
    return OwnHistory(comp, source), report
