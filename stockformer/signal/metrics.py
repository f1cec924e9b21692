"""Prediction metrics on dense [days, stocks] arrays with a validity mask: the definitions.

Per-day cross-sectional statistics first, then their means, IRs and t-statistics,
the way qlib reports IC / RankIC / ICIR / RankICIR. Training, the backtest, the factor report,
the synthetic market's oracle and the dashboard all score a signal with these
(signal/fast_metrics.py computes the same numbers in one sort per day for large grids).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

MIN_STOCKS = 3  # a daily correlation needs a few names to mean anything


def _masked(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.asarray(x, dtype=np.float64).copy()
    out[~mask] = np.nan
    return out


def _row_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation per row, ignoring NaNs pairwise (NaN where < MIN_STOCKS)."""
    both = ~(np.isnan(a) | np.isnan(b))
    n = both.sum(axis=1)
    a = np.where(both, a, 0.0)
    b = np.where(both, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = a.sum(1) / n
        mb = b.sum(1) / n
        da = np.where(both, a - ma[:, None], 0.0)
        db = np.where(both, b - mb[:, None], 0.0)
        cov = (da * db).sum(1)
        var = np.sqrt((da * da).sum(1) * (db * db).sum(1))
        r = cov / var
    r[(n < MIN_STOCKS) | ~np.isfinite(r)] = np.nan
    return r


def _row_ranks(x: np.ndarray) -> np.ndarray:
    return rankdata(x, axis=1, nan_policy="omit")


def daily_ic(pred: np.ndarray, label: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return _row_corr(_masked(pred, mask), _masked(label, mask))


def daily_rank_ic(pred: np.ndarray, label: np.ndarray, mask: np.ndarray) -> np.ndarray:
    p, y = _masked(pred, mask), _masked(label, mask)
    both = ~(np.isnan(p) | np.isnan(y))
    p[~both] = np.nan
    y[~both] = np.nan
    return _row_corr(_row_ranks(p), _row_ranks(y))


def series_stats(x: np.ndarray) -> tuple[float, float, float]:
    """mean, information ratio (mean / std), t-statistic of a daily series."""
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
    ir = mean / std if std and np.isfinite(std) and std > 0 else float("nan")
    return mean, ir, ir * np.sqrt(len(x)) if np.isfinite(ir) else float("nan")


def direction_accuracy(up_score: np.ndarray, label: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> float:
    """Share of valid cells where (up_score > threshold) matches (label > 0)."""
    m = mask & np.isfinite(up_score) & np.isfinite(label)
    if not m.any():
        return float("nan")
    return float(((up_score[m] > threshold) == (label[m] > 0)).mean())


def majority_direction(up_score: np.ndarray, label: np.ndarray, mask: np.ndarray) -> tuple[float, str | None]:
    """(rate, class) of the majority direction over the cells direction_accuracy scores: what
    always predicting "up" (or "down") would score, the floor an accuracy must beat."""
    m = mask & np.isfinite(up_score) & np.isfinite(label)
    if not m.any():
        return float("nan"), None
    up = float((label[m] > 0).mean())
    return (up, "up") if up >= 0.5 else (1.0 - up, "down")


def accuracy_text(metrics: dict) -> str:
    """e.g. "51.2% (always up: 52.0%)"; just the accuracy for runs written before majority_rate."""
    acc, rate, cls = metrics.get("accuracy"), metrics.get("majority_rate"), metrics.get("majority_class")
    if not isinstance(acc, int | float) or not np.isfinite(acc):
        return "n/a"
    if not isinstance(rate, int | float) or not np.isfinite(rate) or cls not in ("up", "down"):
        return f"{acc:.1%}"
    return f"{acc:.1%} (always {cls}: {rate:.1%})"


def daily_accuracy(up_score: np.ndarray, label: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    m = mask & np.isfinite(up_score) & np.isfinite(label)
    hit = ((up_score > threshold) == (label > 0)) & m
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m.sum(1) > 0, hit.sum(1) / m.sum(1), np.nan)


def _desc_positions(score: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per row, each cell's position when the valid cells are sorted by score, highest first
    (invalid cells get positions past the valid ones)."""
    key = np.where(ok, -np.asarray(score, dtype=np.float64), np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    pos = np.empty_like(order)
    np.put_along_axis(pos, order, np.arange(key.shape[1])[None, :].repeat(key.shape[0], 0), axis=1)
    return pos


def topk_hit_rate(score: np.ndarray, label: np.ndarray, mask: np.ndarray, k: int) -> float:
    """Mean share of the daily top-k by score that are also in the daily top-k by label."""
    ok = mask & np.isfinite(score) & np.isfinite(label)
    days = ok.sum(1) >= 2 * k
    if not days.any():
        return float("nan")
    top_s = (_desc_positions(score, ok) < k) & ok
    top_y = (_desc_positions(label, ok) < k) & ok
    return float(((top_s & top_y).sum(1)[days] / k).mean())


def quantile_returns(score: np.ndarray, label: np.ndarray, mask: np.ndarray, q: int = 5) -> np.ndarray:
    """Mean label per score quantile (index 0 = lowest scores), averaged over days: [q]."""
    ok = mask & np.isfinite(score) & np.isfinite(label)
    n_ok = ok.sum(1)
    days = n_ok >= q
    if not days.any():
        return np.full(q, np.nan)
    asc = _desc_positions(-np.asarray(score, dtype=np.float64), ok)  # ascending positions
    bucket = np.minimum(asc * q // np.maximum(n_ok, 1)[:, None], q - 1)
    rows = np.broadcast_to(np.arange(len(score))[:, None], score.shape)
    sel = ok & days[:, None]
    flat = rows[sel] * q + bucket[sel]
    sums = np.bincount(flat, weights=np.asarray(label, dtype=np.float64)[sel], minlength=len(score) * q)
    cnts = np.bincount(flat, minlength=len(score) * q)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = (sums / cnts).reshape(len(score), q)[days]
    return np.nanmean(daily, axis=0)


def assemble_metrics(
    ic: np.ndarray,
    ric: np.ndarray,
    pred_return: np.ndarray,
    label: np.ndarray,
    mask: np.ndarray,
    prob_up: np.ndarray | None,
    hit_rate: float,
    qret: np.ndarray,
) -> dict:
    """The metrics dict from the daily IC / RankIC series, hit rate and quantile returns
    (shared by this reference implementation and the backtest's one-sort version)."""
    ic_mean, icir, ic_t = series_stats(ic)
    ric_mean, ricir, ric_t = series_stats(ric)
    m = mask & np.isfinite(pred_return) & np.isfinite(label)
    err = (pred_return - label)[m]
    up = prob_up if prob_up is not None else (pred_return > 0).astype(np.float64)
    majority_rate, majority_class = majority_direction(up, label, mask)
    return {
        "ic": ic_mean,
        "rank_ic": ric_mean,
        "icir": icir,
        "rank_icir": ricir,
        "ic_tstat": ic_t,
        "rank_ic_tstat": ric_t,
        "accuracy": direction_accuracy(up, label, mask),
        "majority_rate": majority_rate,  # "always up" / "always down" on the same cells
        "majority_class": majority_class,
        "mae": float(np.abs(err).mean()) if err.size else float("nan"),
        "rmse": float(np.sqrt((err**2).mean())) if err.size else float("nan"),
        "topk_hit_rate": hit_rate,
        "quantile_returns": [float(x) for x in qret],
        "long_short_spread": float(qret[-1] - qret[0]),
        "days": int(np.isfinite(ic).sum()),
    }


def prediction_metrics(
    pred_return: np.ndarray,
    label: np.ndarray,
    mask: np.ndarray,
    prob_up: np.ndarray | None = None,
    score: np.ndarray | None = None,
    topk: int = 5,
) -> dict[str, float]:
    """All headline prediction metrics. IC and RankIC are computed on `score`
    (defaults to pred_return); accuracy on prob_up when given, else sign of pred_return."""
    score = pred_return if score is None else score
    return assemble_metrics(
        daily_ic(score, label, mask), daily_rank_ic(score, label, mask), pred_return, label, mask,
        prob_up, topk_hit_rate(score, label, mask, topk), quantile_returns(score, label, mask, 5),
    )
