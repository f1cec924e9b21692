"""IC decay: how long a score stays informative.

The score of day t is judged against the one-day return `lag` days later (from the fill on
t + lag to the fill on t + lag + 1); lag 1 is the headline label. A signal whose IC holds up at
lag 5-20 carries slow information; one that vanishes after lag 1 must be traded daily.
"""

from __future__ import annotations

import numpy as np

from stockformer.signal.metrics import daily_ic, daily_rank_ic, series_stats

IC_DECAY_LAGS = (1, 5, 10, 20)


def lagged_labels(fill_price: np.ndarray, lag: int) -> np.ndarray:
    """label[t] = return from the fill on t + lag to the fill on t + lag + 1 (NaN where unknown)."""
    out = np.full_like(fill_price, np.nan)
    known = len(out) - lag - 1
    if known > 0:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:known] = fill_price[lag + 1 :] / fill_price[lag:-1] - 1.0
    return out


def ic_decay(scores: np.ndarray, fill_price: np.ndarray, rows: slice,
             lags: tuple[int, ...] = IC_DECAY_LAGS) -> list[dict]:
    """Mean daily IC / RankIC (and their IRs) of the score rows against each lag's label."""
    sc = scores[rows]
    out = []
    for lag in lags:
        label = lagged_labels(fill_price, lag)[rows]
        mask = np.isfinite(sc) & np.isfinite(label)
        ic, icir, _ = series_stats(daily_ic(sc, label, mask))
        ric_series = daily_rank_ic(sc, label, mask)
        ric, ricir, _ = series_stats(ric_series)
        out.append({"lag": lag, "ic": ic, "rank_ic": ric, "icir": icir, "rank_icir": ricir,
                    "days": int(np.isfinite(ric_series).sum())})
    return out
