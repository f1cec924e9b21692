"""From daily scores to what the kernel needs: the rebalance calendar, target weights
(plain top-k, long-short quantiles) or ranked candidates and buy weights (TopK-Dropout)."""

from __future__ import annotations

import numpy as np

from stockformer.backtest.selection import top_candidates


def rebalance_days(has_signal: np.ndarray, every: int) -> np.ndarray:
    """Every `every`-th day that carries a signal, counting from the first one."""
    days = np.flatnonzero(has_signal)
    out = np.zeros(len(has_signal), bool)
    out[days[::every]] = True
    return out


def relative_weights(scores: np.ndarray, weighting: str) -> np.ndarray:
    """Per-stock buy weights: 1 (equal) or score minus the day's lowest score (score-proportional)."""
    if weighting == "equal":
        return np.where(np.isfinite(scores), 1.0, 0.0)
    floor = np.min(np.where(np.isfinite(scores), scores, np.inf), axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        out = scores - floor
    return np.where(np.isfinite(out), out, 0.0)


def topk_weights(scores: np.ndarray, trade_day: np.ndarray, topk: int, weighting: str) -> np.ndarray:
    """Full rebalance into the top-k names (others to 0); NaN rows = no orders that day."""
    t_len, n = scores.shape
    out = np.full((t_len, n), np.nan)
    out[trade_day] = 0.0
    top = top_candidates(scores, topk)
    rel = relative_weights(scores, weighting)
    for t in np.flatnonzero(trade_day):
        sel = top[t][top[t] >= 0]
        if len(sel) == 0:
            continue
        w = rel[t, sel] if weighting == "score" else np.ones(len(sel))
        total = w.sum()
        # equal weight keeps 1/topk per name (cash stays if fewer names qualify)
        out[t, sel] = w / total if weighting == "score" and total > 0 else 1.0 / topk
    return out


def long_short_weights(scores: np.ndarray, trade_day: np.ndarray, quantiles: int) -> np.ndarray:
    """Long the top quantile (+1 in total), short the bottom quantile (-1 in total), equal weight."""
    t_len, n = scores.shape
    out = np.full((t_len, n), np.nan)
    out[trade_day] = 0.0
    keyed = np.where(np.isfinite(scores), -scores, np.inf)
    for t in np.flatnonzero(trade_day):
        m = int(np.isfinite(scores[t]).sum())
        q = m // quantiles
        if q == 0:
            continue
        order = np.argsort(keyed[t], kind="stable")[:m]
        out[t, order[:q]] = 1.0 / q
        out[t, order[m - q :]] = -1.0 / q
    return out
