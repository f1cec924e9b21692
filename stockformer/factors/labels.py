"""Forward-return labels, their validity mask and today's return, on dense [T, N] arrays.

Label at t = price[t + 1 + horizon] / price[t + 1] - 1 (price = close or open): a signal known
at the close of t trades at t + 1 and is judged on what follows; with horizon 1 and close
this is qlib's Ref($close, -2) / Ref($close, -1) - 1. It is realised at t + label_lag,
label_lag = 1 + horizon.
"""

from __future__ import annotations

import numpy as np

from stockformer.factors.dense import DensePanel, history_rank


def label_lag(horizon: int) -> int:
    return 1 + horizon


def make_labels(
    dp: DensePanel, horizon: int = 1, price: str = "close", min_history: int = 20
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(labels float32 [T, N] (0 where masked), mask bool [T, N], report counts)."""
    t, n = dp.shape
    p = dp.fields[price]
    valid = dp.valid
    entry = np.full((t, n), np.nan)
    exit_ = np.full((t, n), np.nan)
    lag = label_lag(horizon)
    if t > lag:
        entry[: t - lag] = p[1 : t - lag + 1]
        exit_[: t - lag] = p[lag:]
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = exit_ / entry - 1.0
    realised = np.zeros((t, n), dtype=bool)
    realised[: max(t - lag, 0)] = True
    traded = np.zeros((t, n), dtype=bool)
    if t > lag:
        traded[: t - lag] = valid[: t - lag] & valid[1 : t - lag + 1] & valid[lag:]
    listed = history_rank(valid) + 1 >= min_history
    locked = np.zeros((t, n), dtype=bool)
    if "limit_up" in dp.fields and t > 1:
        locked[:-1] = dp.fields["limit_up"][1:]  # can't buy at the entry day's limit-up
    finite = np.isfinite(raw)
    mask = realised & traded & listed & ~locked & finite
    labels = np.where(mask, raw, 0.0).astype(np.float32)
    report = {
        "label_cells": int(t * n),
        "masked_not_realised": int((~realised).sum()),
        "masked_suspended": int((realised & ~traded).sum()),
        "masked_new_listing": int((realised & traded & ~listed).sum()),
        "masked_limit_up_at_entry": int((realised & traded & listed & locked).sum()),
        "masked_bad_price": int((realised & traded & listed & ~locked & ~finite).sum()),
        "label_valid_share": float(mask.mean()) if mask.size else 0.0,
    }
    return labels, mask, report


def direction_labels(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1 where the label is positive, 0 otherwise, -1 where masked (int64 [T, N])."""
    out = (labels > 0).astype(np.int64)
    out[~mask] = -1
    return out


def daily_returns(dp: DensePanel) -> np.ndarray:
    """Close-to-close return over the stock's previous traded day; 0 where unknown."""
    close = dp.fields["close"]
    prev = np.full(close.shape, np.nan)
    # previous traded close: forward-filled close shifted by one calendar day
    t = close.shape[0]
    idx = np.where(dp.valid, np.arange(t)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    prev_idx = np.full(idx.shape, -1)
    prev_idx[1:] = idx[:-1]
    ok = dp.valid & (prev_idx >= 0)
    prev[ok] = np.take_along_axis(close, np.clip(prev_idx, 0, None), axis=0)[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = close / prev - 1.0
    return np.where(ok & np.isfinite(r), r, 0.0).astype(np.float32)
