"""qlib's Alpha360 on dense arrays: 60 days of CLOSE, OPEN, HIGH, LOW, VWAP over today's close
and VOLUME over today's volume, i = 59 .. 0, in qlib's name order.

"i days back" = i rows back in the stock's *own* trading history (qlib's Ref on the stock's
series); qlib itself shifts on the market calendar, which makes every factor that looks across a
suspension NaN. Days without a row get the features of the stock's last traded day when
fillna is on (forward-fill from its own past) and NaN otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockformer.factors.dense import DensePanel, history_rank
from stockformer.factors.kernels import alpha360_gather, compress_stock_major

FIELDS = ("close", "open", "high", "low", "vwap", "volume")
VOLUME_EPS = 1e-12


def feature_names(window: int = 60) -> list[str]:
    return [f"{f.upper()}{i}" for f in FIELDS for i in range(window - 1, -1, -1)]


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
class Alpha360Context:
    """Everything needed to compute any date range of Alpha360 without recomputation."""

    # [6, N, T] float64: each field on the stock's h-th traded day (FIELDS order), stock-major
    # so one stock's lags are contiguous for the gather
    comp: np.ndarray
    source: np.ndarray  # [T, N] int64 history rank of the day the features come from, -1 none
    window: int

    @property
    def n_features(self) -> int:
        return len(FIELDS) * self.window


def make_context(dp: DensePanel, window: int = 60, fillna: bool = True) -> tuple[
    Alpha360Context, dict
]:
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
    return Alpha360Context(comp, source, window), report


def alpha360_block(ctx: Alpha360Context, start: int, stop: int) -> np.ndarray:
    """Raw Alpha360 for dates [start, stop): float32 [C, F, N] (date-major, one date's
    [F, N] matrix contiguous for the cross-sectional steps that follow)."""
    src = np.ascontiguousarray(ctx.source[start:stop])
    out = np.empty((src.shape[0], ctx.n_features, src.shape[1]), dtype=np.float32)
    alpha360_gather(ctx.comp, src, ctx.window, FIELDS.index("close"), FIELDS.index("volume"),
                    VOLUME_EPS, out)
    return out


def alpha360_dense(dp: DensePanel, window: int = 60, fillna: bool = True) -> np.ndarray:
    """Raw (unprocessed) Alpha360 for the whole panel: float32 [T, N, F]. Small panels only."""
    ctx, _ = make_context(dp, window, fillna)
    return np.ascontiguousarray(alpha360_block(ctx, 0, dp.shape[0]).transpose(0, 2, 1))
